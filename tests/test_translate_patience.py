"""`rnnkit translate train --patience N`: early stopping on the validation BLEU.

A tiny corpus (40 four-word sentences, word for word, validated on itself) reaches BLEU 100
in about ten epochs and then sits there while its val loss keeps creeping down. With a
patience the run stops N epochs after the BLEU last rose (a tie is no improvement), says so
in one line and keeps the best epoch; a resume of it stays stopped. Without one (the
default) it trains every epoch it was given."""

import json
import random

import pytest

from rnnkit.apps.translate import Config, _epochs_without_gain
from rnnkit.checkpoint import WEIGHTS, load_extras
from rnnkit.cli.main import main

EPOCHS = 40  # far more than the corpus needs
TRAIN = ["--hidden-size", "32", "--embedding-dim", "16", "--min-freq", "1", "--max-len", "6",
         "--lr", "1e-2", "--dropout", "0", "--batch-size", "8"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("patience")
    de, en = "ein zwei drei vier fuenf sechs".split(), "one two three four five six".split()
    rng = random.Random(0)
    rows = [[rng.randrange(6) for _ in range(4)] for _ in range(40)]  # 4-grams: BLEU can be 100
    for name, words in (("src", de), ("tgt", en)):
        (root / name).write_text("".join(" ".join(words[i] for i in r) + "\n" for r in rows),
                                 encoding="utf-8")
    return root


def _args(root, ckpt, *more):
    return ["translate", "train", "--src", str(root / "src"), "--tgt", str(root / "tgt"),
            "--val-src", str(root / "src"), "--val-tgt", str(root / "tgt"), "--checkpoint",
            str(ckpt), *TRAIN, *more]


def _history(ckpt) -> dict:
    return json.loads((ckpt / "history.json").read_text(encoding="utf-8"))


def test_stops_patience_epochs_after_the_bleu_last_rose_says_why_and_stays_stopped(
        corpus, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    assert main(_args(corpus, ckpt, "--epochs", str(EPOCHS), "--patience", "3")) == 0
    captured = capsys.readouterr()
    history = _history(ckpt)
    bleus = [r["val_bleu"] for r in history["rows"]]
    top = bleus.index(max(bleus)) + 1  # the first epoch at the best BLEU
    assert max(bleus) == 100.0
    assert len(bleus) == top + 3 < EPOCHS  # the ties at 100 after it did not reset the count
    assert history["stop_reason"] == "early_stopping"
    kept = load_extras(ckpt)["epoch"]
    assert kept == history["best_epoch"] and bleus[kept - 1] == 100.0
    said = [line for line in captured.err.splitlines() if line.startswith("stopped")]
    assert said == [f"stopped: val BLEU did not improve for 3 epochs (best 100.00 since epoch "
                    f"{top}); kept epoch {kept}"], captured.err
    assert f"at epoch {kept} of {len(bleus)} (stopped early: patience 3), " in captured.out

    weights = (ckpt / WEIGHTS).read_bytes()
    for patience in ("3", "0", "10"):  # patience may change on resume; the run stays stopped
        assert main(_args(corpus, ckpt, "--epochs", str(EPOCHS), "--patience", patience,
                          "--resume")) == 0
        assert "had already finished" in capsys.readouterr().err
        assert _history(ckpt) == history and (ckpt / WEIGHTS).read_bytes() == weights


def test_without_patience_every_epoch_is_trained_and_a_resume_may_add_one(corpus, tmp_path,
                                                                           capsys):
    ckpt = tmp_path / "ckpt"
    assert main(_args(corpus, ckpt, "--epochs", "16", "--quiet")) == 0  # the default: off
    history = _history(ckpt)
    bleus = [r["val_bleu"] for r in history["rows"]]
    assert len(bleus) == 16 and history["stop_reason"] is None
    stale, _ = _epochs_without_gain(bleus)
    assert stale >= 2, bleus  # BLEU saturated: a patience of 2 would have stopped it
    # resumed with a patience (allowed to change): the first new epoch sees the stale run
    assert main(_args(corpus, ckpt, "--epochs", str(EPOCHS), "--patience", "2", "--resume",
                      "--quiet")) == 0
    assert "(stopped early: patience 2)" in capsys.readouterr().out
    resumed = _history(ckpt)
    assert resumed["rows"][:16] == history["rows"] and len(resumed["rows"]) == 17
    assert resumed["stop_reason"] == "early_stopping"


def test_a_tie_is_no_improvement():
    assert _epochs_without_gain([0.0, 50.0, 100.0]) == (0, 3)
    assert _epochs_without_gain([0.0, 100.0, 97.2, 100.0, 100.0]) == (3, 2)
    assert _epochs_without_gain([5.0]) == (0, 1)


def test_patience_defaults_to_off_and_takes_0_as_off():
    assert Config().patience is None
    Config(patience=0).check()
    Config(patience=5).check()
    for bad in (-1, 2.5, True, "3"):
        with pytest.raises(ValueError, match=r"^patience must be a non-negative integer, got "):
            Config(patience=bad).check()


@pytest.mark.parametrize("value,message", [
    ("-1", "rnnkit translate train: error: --patience must be a non-negative integer, got -1"),
])
def test_cli_refuses_a_negative_patience_in_one_line_and_writes_nothing(corpus, tmp_path,
                                                                        capsys, value, message):
    ckpt = tmp_path / "ckpt"
    assert main(_args(corpus, ckpt, "--patience", value)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [message]
    assert not ckpt.exists()


def test_help_lists_patience_and_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["translate", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--patience INT stop after this many epochs without a higher val BLEU (a tie is " \
           "no improvement); 0 or none: off (default: off" in text
