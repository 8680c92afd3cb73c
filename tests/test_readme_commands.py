"""The README's command-line section runs as written (issue 13): each command of its first
``bash`` block, in order, in a scratch folder holding ``examples/data``, with the time
budgets cut short (``--minutes``/``--epochs``/``--steps``); every one exits 0 and writes the
files it names."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from rnnkit.cli.main import main

ROOT = Path(__file__).resolve().parents[1]

# the budgets a newcomer runs with, cut so the whole walk takes seconds
SHORTER = {"--minutes": "0.05", "--steps": "4", "--epochs": "1"}
EXTRA = {("regress", "train"): ["--epochs", "2"], ("forecast", "train"): ["--epochs", "1"],
         ("anomaly", "train"): ["--epochs", "1"], ("textgen", "train"): ["--epochs", "1"],
         ("translate", "train"): ["--epochs", "1"], ("diagnose", None): ["--steps", "4",
                                                                          "--hidden-size", "4"]}
WRITES = ("--checkpoint", "--out", "--json", "--plot")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Command line", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines()
            if line.strip().startswith("rnnkit ")]


def shortened(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg in SHORTER:
            out[i + 1] = SHORTER[arg]
    verb = out[0], (out[1] if len(out) > 1 and not out[1].startswith("-") else None)
    budgeted = "--minutes" in out or "--epochs" in out
    for flag, value in zip(EXTRA.get(verb, [])[::2], EXTRA.get(verb, [])[1::2], strict=True):
        if flag not in out and not (budgeted and flag == "--epochs"):
            out += [flag, value]
    return out


def test_readme_lists_every_verb_a_newcomer_needs():
    verbs = {shlex.split(c, comments=True)[1] for c in readme_commands()}
    assert {"regress", "textgen", "forecast", "classify", "translate", "anomaly", "diagnose",
            "info", "export"} <= verbs


@pytest.mark.filterwarnings("ignore::UserWarning")  # tiny data: schedulers/plots may warn
def test_every_readme_command_runs_as_written(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "examples" / "data")
    monkeypatch.chdir(tmp_path)
    for command in readme_commands():
        argv = shortened(shlex.split(command, comments=True)[1:])
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 0, f"{command}\n-> exit {code}: {err[-2000:]}"
        for i, arg in enumerate(argv[:-1]):  # what it wrote (or, for a checkpoint, read)
            if arg in WRITES:
                assert Path(argv[i + 1]).exists(), f"{command}: no {argv[i + 1]}"
