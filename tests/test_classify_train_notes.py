"""What ``rnnkit classify train`` says about the folder and settings it is given.

A setting of the other input kind (``--no-differences`` on texts) was noted only after the
whole run had trained, by its field name (``differences``): now the note comes when training
starts, named as typed, and once. The Python API's ``history.notes`` keep the field names.

``classify evaluate`` writes DIR/confusion_matrix.png; a later train that saves another model
in DIR left it there, describing the old model. Now the train that saves removes it (only
that name: other files in DIR stay), and a run that saves nothing keeps it."""

import csv

import numpy as np

from rnnkit.apps.classify import Config, Examples, train
from rnnkit.apps.classify.training import other_kind_notes
from rnnkit.cli.main import main

FAST = ["--epochs", "2", "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "16",
        "--lr", "0.01", "--val-fraction", "0"]
TEXT_NOTE = ("note: --frontend, --no-differences are settings for numeric series; text "
             "training ignores them")


def _reviews(path, n=40):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["review", "sentiment"])
        for i in range(n):
            w.writerow([f"the film was {'great' if i % 2 else 'dull'}", "pos" if i % 2 else "neg"])
    return path


def _train(csv_path, ckpt, *flags) -> list:
    return ["classify", "train", "--csv", str(csv_path), "--text-col", "review", "--label-col",
            "sentiment", "--checkpoint", str(ckpt), *FAST, *flags]


def test_the_other_kind_s_settings_are_noted_as_typed_when_training_starts(tmp_path, capsys):
    data = _reviews(tmp_path / "r.csv")
    assert main(_train(data, tmp_path / "ck", "--no-differences", "--frontend", "none")) == 0
    err = capsys.readouterr().err.splitlines()
    assert err.count(TEXT_NOTE) == 1 and not any("differences is" in line for line in err)
    first_epoch = next(i for i, line in enumerate(err) if line.startswith("fit: epoch"))
    assert err.index(TEXT_NOTE) < first_epoch  # before training, not after it
    assert main(_train(data, tmp_path / "ck2", "--no-differences", "--quiet")) == 0
    assert capsys.readouterr().err.splitlines() == [
        "note: --no-differences is a setting for numeric series; text training ignores it"]


def test_numeric_training_names_text_flags_and_the_api_keeps_field_names(tmp_path, capsys):
    values = np.random.default_rng(0).normal(0, 1, (12, 10))
    values[1::2] += 2
    ucr = tmp_path / "TRAIN.tsv"
    ucr.write_text("".join(f"{1 + i % 2}\t" + "\t".join(f"{v:.4f}" for v in row) + "\n"
                           for i, row in enumerate(values)))
    assert main(["classify", "train", "--ucr", str(ucr), "--checkpoint", str(tmp_path / "ck"),
                 "--ensemble", "1", "--word-dropout", "0.1", "--max-vocab", "50", "--quiet",
                 "--epochs", "2", "--hidden-size", "8"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "note: --word-dropout, --max-vocab are settings for text; numeric series training "
        "ignores them"]
    config = Config(differences=False, refit=True)
    assert other_kind_notes(config, "text") == [
        "differences is a setting for numeric series; text training ignores it"]
    texts = Examples(texts=["good fun", "bad plot"] * 4, labels=["pos", "neg"] * 4)
    history = train(Config(epochs=1, val_fraction=0.0, differences=False), texts,
                    progress=False)
    assert history.notes == other_kind_notes(config, "text")


def test_a_refused_run_says_one_line_and_no_note(tmp_path, capsys):
    data = _reviews(tmp_path / "r.csv")
    assert main(_train(data, tmp_path / "ck", "--no-differences", "--crop", "0.5")) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "rnnkit classify train: error: classify: crop applies to numeric series only, not text"]
    assert not (tmp_path / "ck").exists()


def test_a_new_model_removes_the_old_model_s_evaluation_only(tmp_path, capsys):
    data, ck = _reviews(tmp_path / "r.csv"), tmp_path / "ck"
    assert main(_train(data, ck, "--quiet")) == 0
    assert main(["classify", "evaluate", "--checkpoint", str(ck), "--csv", str(data),
                 "--quiet"]) == 0
    plot = ck / "confusion_matrix.png"
    assert plot.is_file()
    (ck / "mine.png").write_bytes(plot.read_bytes())  # the user's own: never touched
    (ck / "notes.txt").write_text("keep me")
    capsys.readouterr()
    # a finished run resumed saves nothing: the evaluation still describes the saved model
    assert main(_train(data, ck, "--resume", "--quiet")) == 0
    assert plot.is_file()
    # a refused run saves nothing either
    assert main(_train(data, ck, "--crop", "0.5", "--quiet")) == 2
    assert plot.is_file()
    capsys.readouterr()
    assert main(_train(data, ck, "--quiet")) == 0  # a new model: its evaluation is to come
    assert not plot.exists()
    assert (ck / "mine.png").is_file() and (ck / "notes.txt").read_text() == "keep me"
    assert f"note: removed {plot}, the evaluation of the model this run replaced" in \
        capsys.readouterr().err.splitlines()
