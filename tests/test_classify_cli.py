"""``rnnkit classify train|predict|evaluate`` end to end, and every bad input refused with one
clear line, exit status 2 and nothing written."""

import csv
import json
import re

import pytest

from rnnkit.cli.main import main

FAST = ["--epochs", "3", "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "16",
        "--lr", "0.01", "--quiet"]


def write_reviews(path, n=60):
    good, bad = ["great", "lovely", "fine"], ["awful", "dull", "boring"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "sentiment"])
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            word = (good if label == "pos" else bad)[i % 3]
            w.writerow([i, f"the film was {word}, really {word}", label])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small checkpoint trained from a CSV, shared by the predict/evaluate tests."""
    d = tmp_path_factory.mktemp("clf")
    write_reviews(d / "reviews.csv")
    rc = main(["classify", "train", "--csv", str(d / "reviews.csv"), "--text-col", "review",
               "--label-col", "sentiment", "--checkpoint", str(d / "ck"), "--epochs", "6",
               *FAST[2:]])
    assert rc == 0
    return d


def run_error(capsys, argv, message):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert message in err, err
    assert len(err.splitlines()) == 1
    return err


def test_train_predict_evaluate_end_to_end(trained, capsys):
    d = trained
    saved = json.loads((d / "ck" / "config.json").read_text())
    assert saved["model_class"] == "TextClassifier"
    assert (d / "ck" / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert saved["extras"]["classify"]["labels"]["classes"] == ["neg", "pos"]

    assert main(["classify", "predict", "--checkpoint", str(d / "ck"), "--text",
                 "really great", "--text", "so dull"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["pos", "neg"]
    assert lines[0].split("\t")[1].startswith("neg=0.") and " pos=0." in lines[0]

    # the text column is remembered from training; --out writes a CSV of predictions
    out = d / "pred" / "p.csv"
    assert main(["classify", "predict", "--checkpoint", str(d / "ck"), "--csv",
                 str(d / "reviews.csv"), "--out", str(out), "--quiet"]) == 0
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["text", "label", "p_neg", "p_pos"] and len(rows) == 61

    assert main(["classify", "evaluate", "--checkpoint", str(d / "ck"), "--csv",
                 str(d / "reviews.csv"), "--plot", str(d / "cm.png"), "--json",
                 str(d / "report.json")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((d / "report.json").read_text())
    assert report["accuracy"] == 1.0 and report["confusion"] == [[30, 0], [0, 30]]
    assert "accuracy: 1.0000" in printed and "macro-F1: 1.0000" in printed
    assert "true \\ pred" in printed
    assert (d / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_text_files_and_ucr_through_the_cli(tmp_path, capsys):
    (tmp_path / "rt.pos").write_bytes("a caf\xe9 treat\nlovely\n".encode("latin-1") * 10)
    (tmp_path / "rt.neg").write_bytes(b"dull\nboring stuff\n" * 10)
    files = [str(tmp_path / "rt.pos"), str(tmp_path / "rt.neg")]
    assert main(["classify", "train", "--text-files", *files, "--encoding", "latin-1",
                 "--checkpoint", str(tmp_path / "ck"), "--ngram-buckets", "4096", *FAST]) == 0
    assert "classes neg, pos" in capsys.readouterr().out
    assert main(["classify", "evaluate", "--checkpoint", str(tmp_path / "ck"), "--text-files",
                 *files, "--encoding", "latin-1"]) == 0
    assert (tmp_path / "ck" / "confusion_matrix.png").is_file()

    (tmp_path / "TRAIN.tsv").write_text("".join(
        f"{1 + i % 2}\t" + "\t".join(["0"] * 5 + ["3" if i % 2 else "-3"] + ["0"] * 4) + "\n"
        for i in range(40)))
    assert main(["classify", "train", "--ucr", str(tmp_path / "TRAIN.tsv"), "--checkpoint",
                 str(tmp_path / "ucr"), *FAST]) == 0
    capsys.readouterr()
    assert main(["classify", "predict", "--checkpoint", str(tmp_path / "ucr"), "--ucr",
                 str(tmp_path / "TRAIN.tsv")]) == 0
    assert capsys.readouterr().out.splitlines()[0].split("\t")[2] == "series 1"
    run_error(capsys, ["classify", "train", "--ucr", str(tmp_path / "TRAIN.tsv"), "--checkpoint",
                       str(tmp_path / "ucr2"), "--ngram-buckets", "64"],
              "classify: ngram_buckets applies to text input only, not numeric series")
    assert not (tmp_path / "ucr2").exists()
    run_error(capsys, ["classify", "predict", "--checkpoint", str(tmp_path / "ucr"), "--text",
                       "hello"], "this classifier reads numeric sequences, got text input; "
                                 "pass --ucr FILE")
    # trained from --ucr: a series CSV's id column cannot come from training
    ucr = str(tmp_path / "ucr")
    run_error(capsys, ["classify", "predict", "--checkpoint", ucr, "--series-csv", files[0]],
              "error: --series-csv needs --id-col C (the column holding the series ids): this "
              "model was trained from --ucr (or arrays in Python), not a series CSV, so there is "
              "no column name to reuse")
    run_error(capsys, ["classify", "predict", "--checkpoint", ucr],
              "error: predict takes one input; this numeric classifier reads --ucr FILE or "
              "--series-csv FILE --id-col C")
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ucr],
              "error: evaluate takes one input; this numeric classifier reads --ucr FILE or "
              "--series-csv FILE --id-col C --label-col L")


def test_ucr_rows_with_the_label_last_through_the_cli(tmp_path, capsys):
    # values, then the class, as heartbeat CSVs are often exported: trained with --label-col
    # last, evaluated without saying it again; predicted from rows without labels
    rows = [[0.01 * i + 0.005] + [0.0] * 4 + [3.0 if i % 2 else -3.0] + [0.1 * i] * 4
            for i in range(40)]
    (tmp_path / "beats.csv").write_text("".join(
        ",".join(f"{v:.2f}" for v in r) + f",{i % 2}\n" for i, r in enumerate(rows)))
    (tmp_path / "unlabelled.csv").write_text("".join(
        ",".join(f"{v:.2f}" for v in r) + "\n" for r in rows))
    beats, ck = str(tmp_path / "beats.csv"), str(tmp_path / "ck")
    run_error(capsys, ["classify", "train", "--ucr", beats, "--checkpoint", ck, *FAST],
              "different numbers for 40 series (0.01, ...), values rather than class "
              "labels; a file with the label in its last column: --label-col last")
    assert not (tmp_path / "ck").exists()
    assert main(["classify", "train", "--ucr", beats, "--label-col", "last", "--checkpoint", ck,
                 *FAST]) == 0
    assert "classes 0, 1" in capsys.readouterr().out
    assert main(["classify", "evaluate", "--checkpoint", ck, "--ucr", beats]) == 0
    assert "examples: 40 from" in capsys.readouterr().out
    assert main(["classify", "predict", "--checkpoint", ck, "--ucr", str(tmp_path /
                 "unlabelled.csv"), "--label-col", "none"]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 40 and "shorter" not in out.err
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ck, "--ucr", beats,
                       "--label-col", "none"],
              "--label-col none reads rows without labels; training and evaluate need them")


def test_refit_flag_trains_again_on_every_example(tmp_path):
    write_reviews(tmp_path / "reviews.csv", n=40)
    assert main(["classify", "train", "--csv", str(tmp_path / "reviews.csv"), "--text-col",
                 "review", "--label-col", "sentiment", "--checkpoint", str(tmp_path / "ck"),
                 "--refit", "--val-fraction", "0.25", "--patience", "1", *FAST]) == 0
    saved = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert saved["extras"]["config"]["refit"] is True
    rows = json.loads((tmp_path / "ck" / "history.json").read_text())["rows"]
    best = json.loads((tmp_path / "ck" / "history.json").read_text())["best_epochs"][0]
    assert [r["epoch"] for r in rows if r.get("refit")] == list(range(1, best + 1))


# --------------------------------------------------------------------------- bad input
@pytest.fixture
def bad_files(tmp_path):
    write_reviews(tmp_path / "reviews.csv", n=10)
    (tmp_path / "empty_text.csv").write_text("review,sentiment\nfine,pos\n  ,neg\n")
    (tmp_path / "one_class.csv").write_text("review,sentiment\nfine,pos\ngood,pos\n")
    (tmp_path / "unseen.csv").write_text("review,sentiment\nfine,pos\nso so,meh\n")
    (tmp_path / "pos.txt").write_bytes("caf\xe9 treat\n".encode("latin-1"))
    (tmp_path / "neg.txt").write_text("dull\n")
    (tmp_path / "blank.txt").write_text("\n\n")
    (tmp_path / "ragged.csv").write_text("1,0.1,0.2,0.3\n2,0.5,0.6\n")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["--csv", "empty_text.csv", "--text-col", "review", "--label-col", "sentiment"],
     "error: empty text in column 'review' at line 3 of"),
    (["--text-files", "neg.txt", "blank.txt"],
     "blank.txt' holds no examples (every line is empty)"),
    (["--csv", "one_class.csv", "--text-col", "review", "--label-col", "sentiment"],
     "error: expected at least 2 classes to learn from, got only 'pos' (2 examples)"),
    (["--csv", "reviews.csv", "--text-col", "text", "--label-col", "sentiment"],
     "error: column 'text' (--text-col) not found in"),
    (["--csv", "reviews.csv", "--text-col", "review", "--label-col", "stars"],
     "its columns are: id, review, sentiment"),
    (["--text-files", "pos.txt", "neg.txt"],
     "pos.txt' as utf-8: byte 0xe9 at offset 3; pass the file's encoding with --encoding "
     "(e.g. --encoding latin-1)"),
    (["--ucr", "ragged.csv"],
     "ragged.csv: line 2 has 2 values, line 1 has 3; every series must have the same number "
     "of columns"),
    (["--csv", "reviews.csv", "--text-col", "review"],
     "error: --csv needs --label-col (the column holding the labels)"),
    (["--csv", "reviews.csv", "--text-col", "review", "--label-col", "sentiment",
      "--class-weights", "heavy"],
     "error: --class-weights must be none, balanced or comma-separated"),
])
def test_train_refuses_bad_input_and_writes_nothing(bad_files, capsys, args, message):
    d = bad_files
    argv = [str(d / a) if (d / a).is_file() else a for a in args]
    before = sorted(p.name for p in d.iterdir())
    err = run_error(capsys, ["classify", "train", *argv, "--checkpoint", str(d / "ck"), *FAST],
                    message)
    assert err.startswith("rnnkit classify train: error: ")
    assert sorted(p.name for p in d.iterdir()) == before  # no checkpoint, nothing else


def test_predict_and_evaluate_refuse_bad_input_and_write_nothing(trained, bad_files, capsys):
    ck, d = str(trained / "ck"), bad_files
    before = sorted(p.name for p in trained.joinpath("ck").iterdir())
    # labels never seen in training are scored as wrong, not refused: tests/test_rough_edges.py
    run_error(capsys, ["classify", "predict", "--checkpoint", ck, "--text", " "],
              "error: empty text (example 1 of --text); every example needs some text")
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ck, "--csv",
                       str(d / "reviews.csv"), "--text-col", "body"],
              "column 'body' (--text-col) not found")
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ck, "--text", "fine"],
              "evaluate needs labelled input: --csv, --text-files or --ucr")
    run_error(capsys, ["classify", "predict", "--checkpoint", str(d / "nowhere"), "--text", "a"],
              "no checkpoint at")
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ck, "--text-files",
                       str(d / "pos.txt"), str(d / "neg.txt")], "pass the file's encoding "
                                                                "with --encoding")
    assert sorted(p.name for p in trained.joinpath("ck").iterdir()) == before
    assert not (d / "p.csv").exists()


def test_retraining_an_ensemble_says_the_replacement_before_the_models(tmp_path, capsys):
    """The note that a checkpoint is replaced comes before "classify: model 1 of 2", and the
    last line names the normalisation ``auto`` chose."""
    data = tmp_path / "w_TRAIN.tsv"
    data.write_text("".join(f"{i % 2}\t" + "\t".join(str((i % 2) * 2 + j / 10) for j in range(8))
                            + "\n" for i in range(12)))
    argv = ["classify", "train", "--ucr", str(data), "--epochs", "1", "--ensemble", "2",
            "--hidden-size", "4", "--conv-channels", "4", "--checkpoint", str(tmp_path / "ck")]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    said = [line for line in captured.err.splitlines() if not line.startswith("fit:")]
    assert said[0].startswith(f"note: {tmp_path / 'ck'} holds a trained model")
    assert said[1] == "classify: model 1 of 2 (seed 0)"
    assert re.fullmatch(r"classify: model 2 of 2 \(seed 100; about \d\d:\d\d left for it\)", said[2])
    assert "trained 2 models on 12 examples, classes 0, 1, normalized global" in captured.out


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_predict_and_evaluate_say_which_input_and_columns_they_need(trained, tmp_path,
                                                                      capsys):
    """A model trained from --text-files has no CSV column to reuse: a --csv without
    --text-col says so; with no input, predict lists its inputs without labels (evaluate's
    need them), and a column training named is reused, not asked for."""
    (tmp_path / "r.pos").write_text("lovely\ngreat fun\n" * 10)
    (tmp_path / "r.neg").write_text("dull\nboring stuff\n" * 10)
    files_ck = str(tmp_path / "files")
    assert main(["classify", "train", "--text-files", str(tmp_path / "r.pos"),
                 str(tmp_path / "r.neg"), "--checkpoint", files_ck, *FAST]) == 0
    csv_ck, reviews = str(trained / "ck"), str(trained / "reviews.csv")
    why = ("this model was trained from --text-files (or texts in Python), not a CSV, so "
           "there is no column name to reuse")
    assert _error(capsys, ["classify", "predict", "--checkpoint", files_ck, "--csv", reviews]) \
        == ("rnnkit classify predict: error: --csv needs --text-col C (the column holding the "
            f"texts): {why}")
    assert _error(capsys, ["classify", "evaluate", "--checkpoint", files_ck, "--csv", reviews,
                           "--text-col", "review"]) == \
        ("rnnkit classify evaluate: error: --csv needs --label-col L (the column holding the "
         f"labels): {why}")
    assert _error(capsys, ["classify", "predict", "--checkpoint", files_ck]) == (
        "rnnkit classify predict: error: predict takes one input; this text classifier reads "
        "--text \"...\", --csv FILE --text-col C or --text-files FILE [FILE ...]")
    assert _error(capsys, ["classify", "evaluate", "--checkpoint", files_ck]) == (
        "rnnkit classify evaluate: error: evaluate takes one input; this text classifier reads "
        "--csv FILE --text-col C --label-col L or --text-files A.txt B.txt")
    assert _error(capsys, ["classify", "predict", "--checkpoint", csv_ck]) == (
        "rnnkit classify predict: error: predict takes one input; this text classifier reads "
        "--text \"...\", --csv FILE (column 'review' as in training) or --text-files FILE "
        "[FILE ...]")
    assert _error(capsys, ["classify", "evaluate", "--checkpoint", csv_ck, "--csv", reviews,
                           "--ucr", reviews]) == (
        "rnnkit classify evaluate: error: evaluate takes one input; this text classifier reads "
        "--csv FILE (columns 'review', 'sentiment' as in training) or --text-files A.txt B.txt"
        "; got --csv and --ucr")
    assert _error(capsys, ["classify", "predict", "--checkpoint", csv_ck, "--ucr", reviews]) == (
        "rnnkit classify predict: error: this classifier reads text sequences, got numeric "
        "input (--ucr); pass --text \"...\", --csv FILE (column 'review' as in training) or "
        "--text-files FILE [FILE ...]")
    # the files-trained model predicts a CSV once its column is named
    assert main(["classify", "predict", "--checkpoint", files_ck, "--csv", reviews,
                 "--text-col", "review"]) == 0


def test_predict_help_says_when_training_s_columns_are_reused(capsys):
    with pytest.raises(SystemExit):
        main(["classify", "predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--text-col C the CSV's text column (default: as in training, where it was " \
           "trained from a CSV)" in text
    assert "--label-col L the CSV's (or series CSV's) label column (predict needs none; " \
           "default: as in training, where it was trained from a CSV or series CSV)" in text
    assert "--id-col C the series CSV's series-id column (default: as in training, where it " \
           "was trained from a series CSV)" in text
