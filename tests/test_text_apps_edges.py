"""textgen, translate, generate, anomaly and launch on a newcomer's inputs (session 18):
resuming on other data, extreme length penalties, unknown encodings, CRLF text, word
prompts with unknown words, out-of-vocabulary ids, and one line for bad input."""

from __future__ import annotations

import csv
import random

import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.data.classification import read_text_csv
from rnnkit.data.parallel import reversal_pairs
from rnnkit.data.text import read_text, split_text
from rnnkit.generate import batch_beam_search, beam_generate, generate
from rnnkit.models.language_model import LanguageModel

WORDS = "the quick brown fox jumps over a lazy dog and the cat sat on the mat".split()
TINY = ["--hidden-size", "16", "--epochs", "1", "--batch-size", "4", "--seq-len", "16",
        "--sample-length", "0", "--quiet"]


def _text(lines: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "".join(" ".join(rng.choice(WORDS) for _ in range(6)) + ".\n" for _ in range(lines))


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_resuming_textgen_on_other_text_is_refused(tmp_path, capsys):
    big, small = tmp_path / "big.txt", tmp_path / "small.txt"
    big.write_text(_text(60))
    small.write_text(_text(60)[:900])
    run = tmp_path / "run"
    assert main(["textgen", "train", "--text", str(big), "--checkpoint", str(run), *TINY]) == 0
    capsys.readouterr()
    args = ["--checkpoint", str(run), *TINY[:-1], "--epochs", "2", "--resume", "--quiet"]
    assert main(["textgen", "train", "--text", str(small), *args]) == 2
    _one_line(capsys, "the training data differs from that run's (data.items")
    assert main(["textgen", "train", "--text", str(big), *args]) == 0


def test_word_level_splits_between_words_and_crlf_reads_as_newlines(tmp_path):
    assert split_text("hello world, hello there.\n", 0.1, between_words=True) == (
        "hello world, hello there.", "\n")
    assert split_text("ab cd", 0.5, between_words=True) == ("ab", " cd")  # at a space already
    assert split_text("abcdef", 0.5) == ("abc", "def")  # char level: unchanged
    path = tmp_path / "w.txt"
    path.write_bytes(b"one line\r\ntwo\r\n")
    assert read_text(path) == "one line\ntwo\n"


@pytest.fixture(scope="module")
def word_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("tg")
    text = root / "t.txt"
    text.write_text(_text(80))
    assert main(["textgen", "train", "--text", str(text), "--checkpoint", str(root / "w"),
                 "--level", "word", *TINY]) == 0
    return root / "w"


def test_a_word_prompt_is_echoed_as_typed_and_evaluate_counts_unknowns(word_model, capsys):
    model = rnnkit.open(word_model)
    out = model.predict("The Old SAILOR", 5, seed=0, include_prompt=True)
    assert out.startswith("The Old SAILOR") and "<unk>" not in out
    assert model.evaluate("the zebra sat on the giraffe .")["unknown"] == 2
    assert main(["textgen", "sample", "--checkpoint", str(word_model), "--prompt",
                 "the zebra", "--length", "3"]) == 0
    assert capsys.readouterr().out.startswith("the zebra")


@pytest.mark.parametrize("penalty", [300.0, -300.0, 1e308])
def test_extreme_length_penalties_rank_without_overflow(penalty):
    V = 5

    def step(tokens, state):
        logits = torch.arange(V, dtype=torch.float).repeat(len(tokens), 1)
        return torch.log_softmax(logits, -1), state

    found = batch_beam_search(step, torch.zeros(1, 1, 1), [0], beam_width=3, max_len=6,
                              eos_id=4, length_penalty=penalty)
    assert len(found) == 1 and found[0]


def test_generate_refuses_ids_outside_the_vocabulary_float_ids_and_odd_seeds():
    lm = LanguageModel(vocab_size=10, hidden_size=4)
    for call, message in (
            (lambda: generate(lm, [10 ** 6], 3), "token id 1000000 is outside the model's "
                                                 r"vocabulary \(ids 0..9\)"),
            (lambda: beam_generate(lm, [-1], 3), "token id -1 is outside"),
            (lambda: generate(lm, [4.7], 3), "must hold integer token ids"),
            (lambda: generate(lm, [4], 3, seed=2 ** 70), r"seed must be an integer in \[0, 2"),
            (lambda: generate(lm, [4], 3, temperature="0.5"), "temperature must be a finite")):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    root = tmp_path_factory.mktemp("tr")
    files = {}
    for name, (n, seed) in {"train": (200, 0), "val": (20, 1)}.items():
        src, tgt = reversal_pairs(n, vocab=6, min_len=2, max_len=4, seed=seed)
        for side, lines in (("src", src), ("tgt", tgt)):
            files[f"{name}_{side}"] = root / f"{name}.{side}"
            files[f"{name}_{side}"].write_text("".join(s + "\n" for s in lines))
    run = root / "run"
    assert main(["translate", "train", "--src", str(files["train_src"]), "--tgt",
                 str(files["train_tgt"]), "--val-src", str(files["val_src"]), "--val-tgt",
                 str(files["val_tgt"]), "--checkpoint", str(run), "--hidden-size", "8",
                 "--embedding-dim", "8", "--epochs", "1", "--min-freq", "1", "--quiet"]) == 0
    return {"run": run, **files}


def test_translate_refuses_unknown_encodings_huge_lengths_and_non_text(translator, capsys):
    assert main(["translate", "predict", "--checkpoint", str(translator["run"]), "--src",
                 str(translator["val_src"]), "--encoding", "nonsense"]) == 2
    _one_line(capsys, "unknown encoding 'nonsense'")
    assert main(["translate", "predict", "--checkpoint", str(translator["run"]), "--text",
                 "a b", "--max-len", "100000000", "--beam", "1"]) == 2
    _one_line(capsys, "max length 100,000,000 is past 10,000 words")
    predictor = rnnkit.open(translator["run"])
    for call, message in ((lambda: predictor.predict(None), "expected a sentence or a list"),
                          (lambda: predictor.evaluate([], []), "no sentences to score"),
                          (lambda: predictor.evaluate(["a"], ["a", "b"]), "same length")):
        with pytest.raises(ValueError, match=message):
            call()
    assert main(["translate", "predict", "--checkpoint", str(translator["run"]), "--text",
                 "a b", "--beam", "3", "--length-penalty", "300"]) == 0


def test_anomaly_evaluate_takes_a_label_column_and_names_a_missing_file(tmp_path, capsys):
    data = tmp_path / "s.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "value", "anom"])
        for i in range(300):
            w.writerow([i, (i % 24) / 24 + (3.0 if i == 250 else 0.0), int(i == 250)])
    run = tmp_path / "run"
    assert main(["anomaly", "train", "--data", str(data), "--checkpoint", str(run), "--epochs",
                 "1", "--label-col", "anom", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["anomaly", "evaluate", "--checkpoint", str(run), "--data", str(data),
                 "--label-col", "anom"]) == 0
    assert "roc_auc" in capsys.readouterr().out
    assert main(["anomaly", "train", "--data", str(tmp_path / "nope.csv"), "--checkpoint",
                 str(tmp_path / "r2")]) == 2
    _one_line(capsys, "no such CSV file:")


def test_launch_checks_the_verbs_options_before_any_rendezvous(capsys):
    assert main(["launch", "--nnodes", "2", "--node-rank", "0", "--nproc", "2",
                 "--rdzv-endpoint", "10.255.255.1:29500", "textgen", "train", "..."]) == 2
    _one_line(capsys, "rnnkit textgen train: error:")


def test_reading_a_text_csv_leaves_csvs_field_limit_as_it_was(tmp_path):
    limit = csv.field_size_limit()
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"' + "x" * (200 * 1024) + '",a\n')
    texts, labels = read_text_csv(path, "text", "label")
    assert len(texts[0]) == 200 * 1024 and csv.field_size_limit() == limit


@pytest.mark.parametrize("beam", [1, 3])
def test_a_translation_does_not_depend_on_the_sentences_beside_it(translator, beam):
    """The default length cap is each source's own (twice its length plus 10), not the
    batch's longest: a 1-epoch model runs to the cap, so a shared cap showed."""
    predictor = rnnkit.open(translator["run"])
    short = translator["val_src"].read_text().splitlines()[0]
    longer = " ".join([short] * 4)
    alone = predictor.predict([short], beam)[0]
    assert predictor.predict([short, longer], beam)[0] == alone
    assert predictor.predict([longer, short], beam, batch_size=2)[1] == alone


def test_anomaly_sequences_refuse_a_tie_for_the_normal_class(tmp_path, capsys):
    rows = [[label, *[float(i % 5 + k) for i in range(12)]]
            for k, label in enumerate(["a", "b", "c"] * 4)]
    data = tmp_path / "tie.csv"
    with data.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert main(["anomaly", "train", "--data", str(data), "--layout", "sequences",
                 "--checkpoint", str(tmp_path / "run"), "--epochs", "1"]) == 2
    _one_line(capsys, "'a', 'b', 'c'", "equally common (4 sequences each)", "--normal-label")
