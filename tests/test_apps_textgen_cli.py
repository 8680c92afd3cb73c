"""`rnnkit textgen train|sample` end to end on a tiny generated text, and every bad input."""

import json
import random
import re

import pytest

import rnnkit
from rnnkit.checkpoint import load_extras
from rnnkit.cli.main import main

WORDS = "the quick brown fox jumps over a lazy dog and the cat sat on the mat".split()
TRAIN = ["--hidden-size", "32", "--epochs", "2", "--batch-size", "4", "--seq-len", "16",
         "--sample-length", "20"]


def tiny_text() -> str:
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 8))).capitalize() + "."
             for _ in range(120)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("textgen")
    text = root / "tiny.txt"
    text.write_text(tiny_text(), encoding="utf-8")
    char, word = root / "char", root / "word"
    assert main(["textgen", "train", "--text", str(text), "--checkpoint", str(char), *TRAIN,
                 "--quiet"]) == 0
    assert main(["textgen", "train", "--text", str(text), "--checkpoint", str(word), "--level",
                 "word", "--lower", "--cell", "gru", "--num-layers", "2", *TRAIN, "--quiet"]) == 0
    return {"text": text, "char": char, "word": word}


def test_train_prints_validation_and_samples_and_keeps_the_best(tmp_path, trained, capsys):
    out_dir = tmp_path / "run"
    assert main(["textgen", "train", "--text", str(trained["text"]), "--checkpoint",
                 str(out_dir), *TRAIN]) == 0
    out = capsys.readouterr().out
    assert "epoch   1  train" in out and "epoch   2  train" in out and "nats/char" in out
    assert out.count("  sample: ") == 2
    assert "best validation loss" in out
    assert {"config.json", "model.safetensors", "history.csv", "history.png"} <= {
        p.name for p in out_dir.iterdir()}
    predictor = rnnkit.open(out_dir)
    model, tok, extras = predictor.model, predictor.tokenizer, load_extras(out_dir)
    history = json.loads((out_dir / "history.json").read_text())["rows"]
    assert extras["val_loss"] == min(r["val_loss"] for r in history)
    assert extras["task"] == "textgen"
    assert tok.decode(tok.encode("The cat.")) == "The cat."
    assert extras["textgen"]["hidden_size"] == 32 and model.config["hidden_size"] == 32


def test_sample_char_level_is_reproducible_and_continues_the_prompt(trained, capsys):
    args = ["textgen", "sample", "--checkpoint", str(trained["char"]), "--prompt", "The cat",
            "--temperature", "0.8", "--top-k", "5", "--length", "40", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("The cat") and len(first) == len("The cat") + 40 + 1


def test_sample_with_beam_search_and_word_level(trained, capsys):
    assert main(["textgen", "sample", "--checkpoint", str(trained["char"]), "--prompt", "the",
                 "--beam", "3", "--length", "15"]) == 0
    assert capsys.readouterr().out.startswith("the")
    assert main(["textgen", "sample", "--checkpoint", str(trained["word"]), "--prompt",
                 "the quick", "--temperature", "0.7", "--top-p", "0.9", "--length", "12"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("the quick") and out.count("\n") == 1  # stops at <eos>
    assert main(["textgen", "sample", "--checkpoint", str(trained["word"]), "--beam", "2",
                 "--length", "12"]) == 0
    assert capsys.readouterr().out.strip()


def _fails(argv, capsys, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().endswith(message), captured.err
    return captured


@pytest.mark.parametrize("content, extra, message", [
    (b"", [], "error: text file '{path}' is empty"),
    (b"  \n\n", [], "error: text file '{path}' is empty"),
    ("café crème\n".encode("latin-1") * 50, [],
     "error: cannot decode '{path}' as utf-8: byte 0xe9 at offset 3; pass the file's encoding "
     "with --encoding (e.g. --encoding latin-1)"),
    (b"abc\n" * 3, ["--batch-size", "32"],
     "error: the text is too short: 10 training characters for batch_size 32; use a longer "
     "text or a smaller batch_size"),
    (b"abc\n" * 300, ["--weight-decay", "-1"], "error: --weight-decay must be >= 0, got -1.0"),
    # the setting at fault is named, the valid one beside it is not
    (b"abc\n" * 300, ["--warmup", "0.5", "--final-lr-ratio", "1.5"],
     "error: --final-lr-ratio must lie in [0, 1], got 1.5"),
])
def test_bad_text_files_write_nothing(tmp_path, capsys, content, extra, message):
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    ckpt = tmp_path / "ckpt"
    _fails(["textgen", "train", "--text", str(path), "--checkpoint", str(ckpt), *extra],
           capsys, message.format(path=path))
    assert not ckpt.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_missing_text_file_and_latin1_with_encoding(tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    _fails(["textgen", "train", "--text", str(tmp_path / "nope.txt"), "--checkpoint",
            str(ckpt)], capsys, f"rnnkit textgen train: error: text file "
                                f"'{tmp_path / 'nope.txt'}' not found")
    assert not ckpt.exists()
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café crème brûlée\n".encode("latin-1") * 40)
    assert main(["textgen", "train", "--text", str(latin), "--encoding", "latin-1",
                 "--checkpoint", str(ckpt), *TRAIN[:-2], "--epochs", "1",
                 "--sample-length", "0"]) == 0
    tok = rnnkit.open(ckpt).tokenizer
    assert "é" in tok
    header = capsys.readouterr().out.splitlines()[0]
    assert re.search(r", batches of 4x16, 1 epoch on \w+$", header), header  # not "1 epochs"


def test_checkpoint_that_is_a_file_is_refused(tmp_path, trained, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    _fails(["textgen", "train", "--text", str(trained["text"]), "--checkpoint", str(target)],
           capsys, f"error: checkpoint {target} exists and is not a folder")
    assert target.read_text() == "x"


@pytest.mark.parametrize("extra, message", [
    (["--prompt", "Zebra €"],
     "error: the prompt has 2 character(s) outside the model's vocabulary: 'Z', '€'"),
    (["--temperature", "-0.5"],
     "error: --temperature must be a finite number >= 0 (0 = greedy), got -0.5"),
    (["--temperature", "inf"], "error: --temperature must be a finite number >= 0 (0 = greedy), "
                               "got inf"),
    (["--top-p", "0"], "error: --top-p must lie in (0, 1], got 0.0"),
    (["--top-p", "1.5"], "error: --top-p must lie in (0, 1], got 1.5"),
    (["--top-k", "0"], "error: --top-k must be an integer >= 1, got 0"),
    (["--beam", "0"], "error: beam width must be an integer >= 1, got 0"),
])
def test_bad_sampling_input_prints_nothing_and_writes_nothing(trained, capsys, extra, message):
    before = sorted((p.name, p.stat().st_mtime_ns) for p in trained["char"].iterdir())
    captured = _fails(["textgen", "sample", "--checkpoint", str(trained["char"]), *extra],
                      capsys, message)
    assert captured.out == ""
    assert sorted((p.name, p.stat().st_mtime_ns) for p in trained["char"].iterdir()) == before


def test_sample_from_a_missing_checkpoint(tmp_path, capsys):
    _fails(["textgen", "sample", "--checkpoint", str(tmp_path / "none")], capsys,
           f"error: no checkpoint at '{tmp_path / 'none'}' (train one with rnnkit textgen "
           "train)")


def test_minutes_budget_stops_training(trained, tmp_path, capsys):
    ckpt = tmp_path / "timed"
    assert main(["textgen", "train", "--text", str(trained["text"]), "--checkpoint", str(ckpt),
                 "--hidden-size", "16", "--batch-size", "4", "--seq-len", "8",
                 "--minutes", "0.005",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    # --minutes sets no epoch limit (10**9), so ending at all shows the budget stopped it; how
    # many epochs fit in 0.3 s depends on the machine's load, so the count is not asserted
    assert out.startswith("best validation loss")
    assert re.search(r"\(epoch (\d+) of \1\)", out)
    assert (ckpt / "model.safetensors").is_file()
    _fails(["textgen", "train", "--text", str(trained["text"]), "--checkpoint",
            str(tmp_path / "both"), "--minutes", "1", "--epochs", "2"], capsys,
           "error: epochs and minutes: give one of them, not both")
    assert not (tmp_path / "both").exists()


def test_missing_required_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["textgen", "train", "--text", "x.txt"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == ("rnnkit textgen train: error: the following arguments are required: "
                   "--checkpoint\n")


def test_evaluate_scores_a_text_and_resume_continues_exactly(trained, tmp_path, capsys):
    assert main(["textgen", "evaluate", "--checkpoint", str(trained["char"]), "--text",
                 str(trained["text"])]) == 0
    assert re.match(r"loss \d\.\d{4} nats/char \(perplexity", capsys.readouterr().out)
    ckpt = tmp_path / "run"
    train = ["textgen", "train", "--text", str(trained["text"]), "--checkpoint", str(ckpt), *TRAIN,
             "--quiet"]
    assert main(train) == 0
    assert main([*train, "--resume"]) == 0  # a finished run stays finished
    assert len(json.loads((ckpt / "history.json").read_text())["rows"]) == 2


def test_resume_after_a_kill_continues_exactly(trained, tmp_path):
    from rnnkit.apps import textgen

    text = trained["text"].read_text()
    config = textgen.Config(hidden_size=16, batch_size=4, seq_len=16, epochs=3, sample_length=0)
    straight = textgen.train(config, text, tmp_path / "straight", quiet=True)

    def killed_at_epoch_3(line):
        if line.startswith("epoch   3"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        textgen.train(config, text, tmp_path / "resumed", log=killed_at_epoch_3)
    resumed = textgen.train(config, text, tmp_path / "resumed", quiet=True, resume=True)
    assert straight["val_loss"] == resumed["val_loss"]
    assert straight["lr"] == resumed["lr"]


def test_sample_notes_unknown_prompt_words_and_flags_a_beam_does_not_use(trained, capsys):
    words = trained["word"]
    assert main(["textgen", "sample", "--checkpoint", str(words), "--prompt",
                 "zyzzyva the", "--length", "3", "--beam", "2", "--temperature", "0.5"]) == 0
    err = capsys.readouterr().err
    assert "note: 1 prompt word(s) outside the vocabulary, read as <unk>: 'zyzzyva'" in err
    assert "note: beam search keeps the most likely continuation; --temperature not used" in err
    assert main(["textgen", "sample", "--checkpoint", str(words), "--prompt", "zyzzyva",
                 "--length", "3", "--beam", "2", "--temperature", "0.5", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
