"""Property-based fuzzing of the readers (issue 14): the numeric CSV reader, the text readers
(textgen's text file, classify's text files and text CSV), the UCR-layout and .ts readers, and the
JSON parts of a checkpoint's extras (tokenizers, label encoder, scaler, classify
preprocessing, and whole extras of real checkpoints opened with ``rnnkit.open``).

Whatever they are given, only the documented exceptions may escape: ``ValueError`` (and its
subclasses ``CheckpointError``, ``UnicodeDecodeError``) and ``FileNotFoundError``. About
1,180 generated cases per run; hypothesis' database is off and the runs are derandomized,
so the suite stays deterministic.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit
from rnnkit.data.classification import (
    LabelEncoder,
    read_text_csv,
    read_text_files,
    read_ucr,
)
from rnnkit.data.csv_table import csv_header, read_csv_columns
from rnnkit.data.text import read_text
from rnnkit.data.timeseries import StandardScaler
from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer, tokenizer_from_dict
from rnnkit.data.ts_file import read_archive

DOCUMENTED = (ValueError, FileNotFoundError)
FIXTURES = Path(__file__).parent / "fixtures" / "v0_1_0"


def fuzz(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _file(folder: str, data: bytes | str, name: str = "f.csv") -> Path:
    path = Path(folder) / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def _documented(call):
    try:
        return call()
    except DOCUMENTED as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
        return None


# cells that make CSV and UCR readers work: numbers in many spellings, and everything else
NUMBERS = st.one_of(st.integers(-10**6, 10**6).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e39", "-3.4e38", "nan", "NaN", "inf", "-inf", "1_000",
                                     "0x10", " 7 ", "+.5", "1e-320", "١٢", "1,5"]))
CELLS = st.one_of(NUMBERS, st.text(max_size=8),
                  st.sampled_from(["", " ", '"', '""', '"a,b"', "\n", "\r\n", "\ufeff", "\x00",
                                   "value", "label", "é", "\t"]))


def _table(rows: list[list[str]], sep: str) -> str:
    return "\n".join(sep.join(r) for r in rows) + "\n"


TABLES = st.builds(_table, st.lists(st.lists(CELLS, min_size=1, max_size=6), min_size=0,
                                    max_size=8), st.sampled_from([",", "\t", " ", ";"]))
BYTES = st.one_of(st.binary(max_size=300), TABLES.map(lambda t: t.encode("utf-8")),
                  TABLES.map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),
                  TABLES.map(lambda t: t.encode("utf-16")))


# --------------------------------------------------------------------------- the CSV reader
@fuzz(200)
@given(data=BYTES, pick=st.lists(st.sampled_from(["value", "a", "", "x", "label", "1"]),
                                 max_size=3, unique=True))
def test_csv_reader_raises_only_documented_errors(data, pick):
    with tempfile.TemporaryDirectory() as d:
        path = _file(d, data)
        header = _documented(lambda: csv_header(path))
        columns = pick or (header[:3] if header else ["value"])
        cols = _documented(lambda: read_csv_columns(path, columns))
    if cols is not None:
        assert set(cols) == set(columns)
        lengths = {len(v) for v in cols.values()}
        assert len(lengths) == 1 and lengths.pop() > 0
        for v in cols.values():
            assert v.dtype == np.float64 and np.isfinite(v).all()
            assert (np.abs(v) <= np.finfo(np.float32).max).all()


@fuzz(100)
@given(rows=st.lists(st.lists(NUMBERS, min_size=2, max_size=2), min_size=1, max_size=10))
def test_csv_reader_reads_what_it_accepts(rows):
    text = "value,x\n" + "".join(f"{a},{b}\n" for a, b in rows)
    with tempfile.TemporaryDirectory() as d:
        path = _file(d, text)
        cols = _documented(lambda: read_csv_columns(path, ["value", "x"]))
    if cols is not None:  # every accepted value is the float of its cell
        assert cols["value"].tolist() == [float(a) for a, _ in rows]


# ------------------------------------------------------------------------- the text readers
@fuzz(150)
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)),
       encoding=st.sampled_from(["utf-8", "latin-1", "ascii", "utf-16", "nope"]))
def test_textgen_text_reader(data, encoding):
    with tempfile.TemporaryDirectory() as d:
        text = _documented(lambda: read_text(_file(d, data, "t.txt"), encoding=encoding))
        missing = _documented(lambda: read_text(Path(d) / "missing.txt"))
    assert missing is None
    if text is not None:
        # as documented: a byte-order mark dropped, Windows line ends read as "\n"
        assert text.strip() and text == data.decode(encoding).removeprefix(
            "\ufeff").replace("\r\n", "\n")


@fuzz(150)
@given(files=st.lists(st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode)),
                      min_size=1, max_size=3),
       names=st.lists(st.sampled_from(["pos.txt", "neg.txt", "a.b.txt", "x", "rt.pos",
                                       "rt.neg", ".hidden"]), min_size=3, max_size=3,
                      unique=True))
def test_classify_text_files_reader(files, names):
    with tempfile.TemporaryDirectory() as d:
        paths = [_file(d, data, name) for data, name in zip(files, names, strict=False)]
        got = _documented(lambda: read_text_files(paths))
    if got is not None:
        texts, labels = got
        assert len(texts) == len(labels) and all(t.strip() for t in texts)
        assert len(set(labels)) == len(paths)


@fuzz(150)
@given(data=BYTES, text_col=st.sampled_from(["text", "value", "", "label"]),
       label_col=st.sampled_from([None, "label", "text"]))
def test_classify_text_csv_reader(data, text_col, label_col):
    with tempfile.TemporaryDirectory() as d:
        got = _documented(lambda: read_text_csv(_file(d, data), text_col, label_col))
    if got is not None:
        texts, labels = got
        assert texts and all(t.strip() for t in texts)
        assert labels is None or len(labels) == len(texts)


# --------------------------------------------------------------------------- the UCR reader
@fuzz(170)
@given(data=BYTES)
def test_ucr_reader(data):
    with tempfile.TemporaryDirectory() as d:
        got = _documented(lambda: read_ucr(_file(d, data, "x_TRAIN.tsv")))
    if got is not None:
        values, lengths, labels = got
        assert values.dtype == np.float32 and values.shape[0] == len(lengths) == len(labels)
        assert (lengths >= 1).all() and (lengths <= values.shape[1]).all()
        assert np.isfinite(values).all()  # the padding is zeros


# ------------------------------------------------------------------- the archive's .ts reader
TS_CHARS = st.sampled_from(list("0123456789.,:?-e \n") + ["@data\n", "@classLabel true a b\n",
                                                          "@classLabel false\n", "nan", "a",
                                                          "b", "#", "@dimensions 2\n"])


@fuzz(170)
@given(data=st.one_of(BYTES, st.lists(TS_CHARS, max_size=40).map("".join)))
def test_ts_reader(data):
    with tempfile.TemporaryDirectory() as d:
        got = _documented(lambda: read_archive(_file(d, data, "x_TRAIN.ts")))
    if got is not None:  # a TsTable: values, lengths, labels and (.ts files) each one's line
        values, lengths, labels = got.values, got.lengths, got.labels
        assert got.lines is None or len(got.lines) == len(lengths)
        assert values.dtype == np.float32 and values.ndim == 3
        assert values.shape[0] == len(lengths) and (labels is None or len(labels) == len(lengths))
        assert (lengths >= 1).all() and (lengths <= values.shape[1]).all()
        assert np.isfinite(values).all()  # the padding is zeros


# ----------------------------------------------------------- checkpoint JSON parts: extras
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
              st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=12)

_GOOD_PARTS = {
    "char": CharTokenizer().fit("hello world").to_dict(),
    "word": WordTokenizer().fit(["the cat", "a dog"]).to_dict(),
    "labels": LabelEncoder(["neg", "pos"]).to_dict(),
    "scaler": {"columns": ["a", "b"], "mean": [0.0, 1.0], "std": [1.0, 2.0], "n_rows": 3},
}
_KEYS = ["type", "itos", "lower", "min_freq", "max_size", "punctuation", "classes", "columns",
         "mean", "std", "n_rows", "kind", "labels", "tokenizer"]


@st.composite
def mutated(draw):
    """A valid part with one to three keys replaced, removed or added."""
    part = json.loads(json.dumps(_GOOD_PARTS[draw(st.sampled_from(sorted(_GOOD_PARTS)))]))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(_KEYS))
        action = draw(st.sampled_from(["set", "drop", "list-item"]))
        if action == "drop":
            part.pop(key, None)
        elif action == "list-item" and isinstance(part.get(key), list) and part[key]:
            part[key][draw(st.integers(0, len(part[key]) - 1))] = draw(JSON)
        else:
            part[key] = draw(JSON)
    return part


PARTS = st.one_of(JSON, mutated())


@fuzz(200)
@given(part=PARTS)
def test_extras_parts_raise_only_documented_errors(part):
    from rnnkit.apps.classify.inputs import Preprocessing

    tok = _documented(lambda: tokenizer_from_dict(part))
    if tok is not None:  # a table it accepts works
        assert len(set(tok.itos)) == len(tok.itos) == tok.vocab_size
        assert isinstance(tok.decode(tok.encode("hello the cat")), str)
    enc = _documented(lambda: LabelEncoder.from_dict(part))
    if enc is not None:
        assert len(set(enc.classes)) == len(enc.classes) >= 2
    scaler = _documented(lambda: StandardScaler.from_dict(part))
    if scaler is not None:
        assert (scaler.std > 0).all() and np.isfinite(scaler.mean).all()
    _documented(lambda: Preprocessing.from_dict(part))


_OPENED: dict[str, Path] = {}


def _copy_of(task: str) -> Path:
    """A copy of the 0.1.0 fixture, made once per test session (its config.json rewritten)."""
    if task not in _OPENED:
        folder = Path(tempfile.mkdtemp(prefix=f"rnnkit-fuzz-{task}-")) / task
        shutil.copytree(FIXTURES / task, folder)
        _OPENED[task] = folder
    return _OPENED[task]


@pytest.fixture(scope="module", autouse=True)
def _remove_copies():
    yield
    for folder in _OPENED.values():
        shutil.rmtree(folder.parent, ignore_errors=True)


@st.composite
def tampered_extras(draw):
    task = draw(st.sampled_from(["regress", "textgen", "translate", "classify"]))
    doc = json.loads((FIXTURES / task / "config.json").read_text())
    extras = doc["extras"]
    paths = []

    def walk(node, at):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((*at, k))
                walk(v, (*at, k))

    walk(extras, ())
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(paths))
        parent = extras
        for k in path[:-1]:
            parent = parent.get(k) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(JSON)
    return task, doc


@fuzz(60)
@given(case=tampered_extras())
def test_open_with_tampered_extras_raises_only_documented_errors(case):
    task, doc = case
    folder = _copy_of(task)
    (folder / "config.json").write_text(json.dumps(doc))
    predictor = _documented(lambda: rnnkit.open(folder))
    if predictor is not None:  # what loads also answers (or refuses the input, documented)
        inputs = {"regress": lambda p: p.predict(np.arange(12.0)),
                  "textgen": lambda p: p.predict("a", 4, seed=0),
                  "translate": lambda p: p.predict(["ein hund"], beam=2),
                  "classify": lambda p: p.predict(["a good film"])}
        _documented(lambda: inputs[task](predictor))
