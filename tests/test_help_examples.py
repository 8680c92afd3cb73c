"""Every verb's ``--help`` examples name files that exist (issue 13).

The examples are run as written from the repository root after ``make demo``. This walks the
epilog of every parser (``rnnkit``, each verb, each action), takes each example line, and
checks every file it reads: it exists in the repository (``examples/data/``, ``tests/data/``,
scripts), under ``$RNNKIT_DATA`` (``../shared/data``, when present), is written by the demo
part that ``rnnkit-demo/...`` names (run here: ``demo --only anomaly,classify``, ~8 s), or is
written by an example — an earlier line of the same epilog or any line of another verb's.
Running every training example takes minutes, so only the quick ones run here (``info``).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from pathlib import Path

import pytest

from rnnkit.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RNNKIT_DATA") or ROOT.parent / "shared" / "data")
# flags whose value a command writes (a training action's --checkpoint is added below)
OUTPUT_FLAGS = {"--out", "--json", "--plot"}
TRAINING = {("regress", "train"), ("train", None), ("textgen", "train"), ("translate", "train"),
            ("forecast", "train"), ("classify", "train"), ("anomaly", "train"),
            ("import-keras", None)}
DATA_SUFFIX = re.compile(r"\.(csv|tsv|txt|keras|h5|npz|npy|de|en|pos|neg|parquet|py)$")
# files a script writes: (script, what it writes under its --out folder)
SCRIPT_WRITES = {"examples/keras_next_number.py": ("next_number.keras", "next_number.h5")}


def epilogs() -> dict[str, list[str]]:
    """``{"rnnkit textgen train": [example lines]}`` for every parser with examples."""
    found: dict[str, list[str]] = {}

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        text = parser.epilog or ""
        if "examples:" in text:
            found[" ".join(path)] = [ln.strip() for ln in text.split("examples:", 1)[1]
                                     .splitlines() if ln.strip()]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), ["rnnkit"])
    return found


def commands(line: str) -> list[list[str]]:
    """The line as argv lists, shell variables expanded (``D=...;`` as a shell would)."""
    env = {"RNNKIT_DATA": str(DATA)}
    out = []
    for part in line.split(";"):
        words = shlex.split(part)
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # NAME=value prefixes
            name, value = words.pop(0).split("=", 1)
            env[name] = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), value)
        if words:
            out.append([re.sub(r"\$(\w+)", lambda m: env[m.group(1)], w) for w in words])
    return out


def _looks_like_path(word: str) -> bool:
    return (not word.startswith("-") and " " not in word and not word.startswith("http")
            and ("/" in word or bool(DATA_SUFFIX.search(word)))
            and not re.fullmatch(r"[\d.]+:\d+", word))  # HOST:PORT


def reads_writes(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(files read, files written)`` by one command."""
    if argv[0] == "python":
        script, rest = argv[1], argv[2:]
        outs = [rest[i + 1] for i, w in enumerate(rest) if w == "--out"]
        writes = [f"{o}/{f}" for o in outs for f in SCRIPT_WRITES.get(script, ())]
        reads = [w for i, w in enumerate(rest) if _looks_like_path(w)
                 and (i == 0 or rest[i - 1] != "--out")]
        return [script, *reads], writes
    assert argv[0] == "rnnkit", argv
    words = argv[1:]
    if words[0] == "launch":  # the verb after launch's own options
        words = words[next(i for i, w in enumerate(words) if w in ("train", "textgen")):]
    verb = words[0]
    action = words[1] if len(words) > 1 and not words[1].startswith("-") else None
    trains = (verb, action) in TRAINING or (verb, None) in TRAINING
    reads, writes = [], []
    for i, w in enumerate(words[1:], start=1):
        if not _looks_like_path(w):
            continue
        flag = words[i - 1]
        if flag in OUTPUT_FLAGS or (flag == "--checkpoint" and trains):
            writes.append(w)
        else:
            reads.append(w)
    if verb == "diagnose" and "--save-models" in words:
        out = words[words.index("--out") + 1].rstrip("/")
        cells = words[words.index("--cells") + 1].split(",")
        writes += [f"{out}/models/{c}" for c in cells]
    return reads, writes


def _all() -> list[tuple[str, int, str, list[str], list[str]]]:
    rows = []
    for where, lines in epilogs().items():
        for k, line in enumerate(lines):
            if "VERB" in line:  # `rnnkit VERB --help`: a pattern, not a command
                continue
            for argv in commands(line):
                reads, writes = reads_writes(argv)
                rows.append((where, k, line, reads, writes))
    return rows


def _norm(p: str) -> str:
    return os.path.normpath(p)


def test_every_parser_with_actions_has_examples():
    found = epilogs()
    verbs = [w for w in found if w.count(" ") == 1]
    assert len(verbs) >= 15, verbs
    for name in ("rnnkit textgen train", "rnnkit anomaly evaluate", "rnnkit classify predict",
                 "rnnkit translate evaluate", "rnnkit forecast predict", "rnnkit info"):
        assert found[name], name


def test_commands_expand_variables_as_a_shell():
    [argv] = commands("D=$RNNKIT_DATA/multi30k; rnnkit translate predict --src $D/x.de")
    assert argv[-1] == f"{DATA}/multi30k/x.de"
    [argv] = commands("RNNKIT_API_KEY=secret rnnkit serve --checkpoint runs/a")
    assert argv == ["rnnkit", "serve", "--checkpoint", "runs/a"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The demo parts whose files the examples read, written as ``make demo`` writes them."""
    wanted = {p.split("/")[1] for *_, reads, _ in _all() for p in reads
              if p.startswith("rnnkit-demo/")}
    part_of = {"anomaly": "anomaly", "classify-model": "classify", "classify-data": "classify",
               "forecast-model": "forecast", "next_number": "next_number"}
    unknown = wanted - set(part_of)
    assert not unknown, f"examples read rnnkit-demo/{unknown}: add the demo part here"
    out = tmp_path_factory.mktemp("demo") / "rnnkit-demo"
    if wanted:
        parts = ",".join(sorted({part_of[w] for w in wanted}))
        assert main(["demo", "--out", str(out), "--only", parts, "--quiet"]) == 0
    return out


def test_every_file_an_example_reads_exists(demo_dir):
    rows = _all()
    by_other = {}  # path -> the epilogs whose lines write it
    for where, _, _, _, writes in rows:
        for w in writes:
            by_other.setdefault(_norm(w), set()).add(where)
    missing = []
    for where, k, line, reads, _ in rows:
        earlier = {_norm(w) for wh, kk, _, _, ws in rows if wh == where and kk < k for w in ws}
        for r in reads:
            p = _norm(r)
            if p.startswith("rnnkit-demo" + os.sep):
                ok = (demo_dir.parent / p).exists()
            elif str(DATA) in p:
                if not DATA.is_dir():
                    continue  # no real data on this machine: nothing to check
                ok = Path(p).exists()
            else:
                ok = ((ROOT / p).exists() or p in earlier
                      or bool(by_other.get(p, set()) - {where}))
            if not ok:
                missing.append(f"{where}: {r!r} in `{line}`")
    assert not missing, "examples read files nothing writes:\n" + "\n".join(missing)


def test_info_examples_run(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    lines = epilogs()["rnnkit info"]
    assert lines
    for line in lines:
        [argv] = commands(line)
        assert main(argv[1:]) == 0, line
        assert "SequenceRegressor" in capsys.readouterr().out
