"""`rnnkit translate train|predict|evaluate` end to end on a generated reversal corpus, and
every bad input: a clear one-line error, exit status 2, nothing written."""

import json
import re
from pathlib import Path

import pytest
import sacrebleu

import rnnkit
from rnnkit.checkpoint import load_extras
from rnnkit.cli.main import main
from rnnkit.data.parallel import reversal_pairs

TRAIN = ["--hidden-size", "32", "--embedding-dim", "16", "--epochs", "3", "--attention",
         "bahdanau", "--input-feeding", "--min-freq", "1", "--max-len", "8", "--lr", "5e-3"]


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    src, tgt = reversal_pairs(600, vocab=8, min_len=2, max_len=6, seed=0)
    val_src, val_tgt = reversal_pairs(40, vocab=8, min_len=2, max_len=6, seed=1)
    files = {"root": root, "src": _write(root / "train.src", src),
             "tgt": _write(root / "train.tgt", tgt), "val_src": _write(root / "val.src", val_src),
             "val_tgt": _write(root / "val.tgt", val_tgt), "ckpt": root / "ckpt"}
    assert main(["translate", "train", "--src", files["src"], "--tgt", files["tgt"],
                 "--val-src", files["val_src"], "--val-tgt", files["val_tgt"], "--checkpoint",
                 str(files["ckpt"]), *TRAIN, "--quiet"]) == 0
    return files


def _train_args(corpus, **over):
    args = {"--src": corpus["src"], "--tgt": corpus["tgt"], "--val-src": corpus["val_src"],
            "--val-tgt": corpus["val_tgt"], "--checkpoint": str(corpus["root"] / "new")} | over
    return ["translate", "train", *[x for kv in args.items() for x in kv], *TRAIN, "--quiet"]


def test_train_keeps_the_best_epoch_with_tokenizers_and_config(corpus, capsys):
    predictor = rnnkit.open(corpus["ckpt"])
    model, src_tok, extras = predictor.model, predictor.src_tokenizer, load_extras(corpus["ckpt"])
    assert isinstance(model, rnnkit.Seq2Seq) and model.max_src_len == 8
    rows = json.loads((corpus["ckpt"] / "history.json").read_text())["rows"]
    assert extras["val_bleu"] == max(r["val_bleu"] for r in rows)
    assert extras["task"] == "translate" and extras["epoch"] == 1 + max(
        range(len(rows)), key=lambda i: (rows[i]["val_bleu"], -rows[i]["val_loss"]))
    assert extras["translation"]["attention"] == "bahdanau" and model.config["input_feeding"]
    assert src_tok.encode("w1 w2") == [src_tok.stoi["w1"], src_tok.stoi["w2"]]
    config = json.loads((corpus["ckpt"] / "config.json").read_text())
    assert config["model_class"] == "Seq2Seq"
    assert (corpus["ckpt"] / "history.png").read_bytes()[:4] == b"\x89PNG"


def test_train_logs_the_data_and_every_epoch(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    args = _train_args(corpus, **{"--checkpoint": str(run)})
    args.remove("--quiet")
    assert main(args + ["--epochs", "1"]) == 0
    captured = capsys.readouterr()
    assert "translate: 600 training pairs (skipped 0 with an empty side, truncated 0 to 8 " \
           "tokens), 40 validation pairs" in captured.err
    assert re.search(r" parameters; 1 epoch on \w+\n", captured.err), captured.err  # not "epochs"
    assert "epoch   1" in captured.err and "val BLEU" in captured.err
    assert captured.out.startswith("best val BLEU ") and f"saved to {run}" in captured.out


def test_predict_translates_text_and_files_with_beam_and_n_best(corpus, tmp_path, capsys):
    ckpt = str(corpus["ckpt"])
    assert main(["translate", "predict", "--checkpoint", ckpt, "--text", "w1 w2 w3", "--text",
                 "w4 w5", "--beam", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(set(line.split()) <= {f"w{i}" for i in range(8)}
                                   for line in lines)
    src = _write(tmp_path / "in.src", ["w1 w2 w3", "w4 w5"])
    out = tmp_path / "out.txt"
    assert main(["translate", "predict", "--checkpoint", ckpt, "--src", src, "--beam", "3",
                 "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == lines  # same as --text
    assert main(["translate", "predict", "--checkpoint", ckpt, "--text", "w1 w2 w3", "--beam",
                 "4", "--n-best", "3"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[:2] for r in rows] == [["1", "0"], ["1", "1"], ["1", "2"]]  # sentence, rank
    scores = [float(r[2]) for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_predict_saves_an_attention_heat_map(corpus, tmp_path, capsys):
    png = tmp_path / "attn.png"
    assert main(["translate", "predict", "--checkpoint", str(corpus["ckpt"]), "--text",
                 "w1 w2 w3", "--attention-png", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert f"attention heat map saved to {png}" in capsys.readouterr().err


def test_evaluate_reports_sacrebleu_on_the_written_translations(corpus, tmp_path, capsys):
    out = tmp_path / "hyp.txt"
    assert main(["translate", "evaluate", "--checkpoint", str(corpus["ckpt"]), "--src",
                 corpus["val_src"], "--tgt", corpus["val_tgt"], "--beam", "2", "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    hyps = out.read_text(encoding="utf-8").splitlines()
    refs = Path(corpus["val_tgt"]).read_text(encoding="utf-8").splitlines()
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", force=True).score
    assert printed.startswith(f"BLEU {expected:.2f} (sacrebleu corpus BLEU, tokenize=none), "
                              "exact match ")
    assert "on 40 pairs; beam 2" in printed


# ---------------------------------------------------------------------------- bad input
def _fails(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0], err[0]


def test_train_refuses_line_count_mismatch_and_writes_nothing(corpus, tmp_path, capsys):
    short = _write(tmp_path / "short.tgt", ["w1"] * 599)
    new = corpus["root"] / "new"
    _fails(capsys, _train_args(corpus, **{"--tgt": short}),
           f"rnnkit translate train: error: parallel text: {corpus['src']!r} has 600 lines but "
           f"{short!r} has 599; line i of the source must translate line i of the target")
    assert not new.exists()


def test_train_empty_lines_refused_or_skipped_with_a_count(corpus, tmp_path, capsys):
    src = Path(corpus["src"]).read_text(encoding="utf-8").splitlines()
    src[2] = ""
    holed = _write(tmp_path / "holed.src", src)
    new = tmp_path / "new"
    _fails(capsys, _train_args(corpus, **{"--src": holed, "--checkpoint": str(new)})
           + ["--empty", "error"],
           "rnnkit translate train: error: parallel text: line 3 of the source is empty (pass "
           "empty='skip' / --empty skip to skip such pairs)")
    assert not new.exists()
    args = _train_args(corpus, **{"--src": holed, "--checkpoint": str(new)})
    args.remove("--quiet")
    assert main(args + ["--epochs", "1"]) == 0
    assert "599 training pairs (skipped 1 with an empty side" in capsys.readouterr().err


def test_train_too_long_refused_with_the_line(corpus, tmp_path, capsys):
    new = tmp_path / "new"
    lines = Path(corpus["src"]).read_text(encoding="utf-8").splitlines()
    line, n = next((i, len(s.split())) for i, s in enumerate(lines, 1) if len(s.split()) > 4)
    _fails(capsys, _train_args(corpus, **{"--checkpoint": str(new)}) + ["--max-len", "4",
                                                                       "--too-long", "error"],
           f"rnnkit translate train: error: source line {line} has {n} tokens, more than the "
           "maximum 4 (pass too_long='truncate' / --too-long truncate to cut it)")
    assert not new.exists()


@pytest.mark.parametrize("option,value,message", [
    ("--dropout", "1.5", "--dropout must lie in [0, 1), got 1.5"),
    ("--hidden-size", "31", "--hidden-size must be even (the encoder has H/2 units per "
                            "direction), got 31"),
    ("--teacher-forcing", "-0.1", "--teacher-forcing must lie in [0, 1], got -0.1"),
])
def test_train_refuses_bad_settings(corpus, tmp_path, capsys, option, value, message):
    new = tmp_path / "new"
    _fails(capsys, _train_args(corpus, **{"--checkpoint": str(new)}) + [option, value],
           "rnnkit translate train: error: " + message)
    assert not new.exists()


def test_predict_maps_unknown_words_to_unk_and_says_so(corpus, capsys):
    assert main(["translate", "predict", "--checkpoint", str(corpus["ckpt"]), "--text",
                 "w1 zebra w2 qq zebra", "--beam", "1"]) == 0
    captured = capsys.readouterr()
    assert "note: 2 unknown source word(s) mapped to <unk>: zebra, qq" in captured.err
    assert len(captured.out.splitlines()) == 1


def test_predict_too_long_is_truncated_with_a_note_or_refused(corpus, tmp_path, capsys):
    long = " ".join(["w1", "w2"] * 6)  # 12 tokens; the model was trained with --max-len 8
    out = tmp_path / "out.txt"
    args = ["translate", "predict", "--checkpoint", str(corpus["ckpt"]), "--text", long,
            "--out", str(out)]
    _fails(capsys, args + ["--too-long", "error"],
           "rnnkit translate predict: error: source line 1 has 12 tokens, more than the maximum "
           "8 (pass too_long='truncate' / --too-long truncate to cut it)")
    assert not out.exists()
    assert main(args) == 0
    assert "note: truncated 1 source sentence(s) to the model's maximum of 8 tokens" in \
        capsys.readouterr().err
    assert out.exists()


def test_predict_refuses_empty_lines_and_bad_options(corpus, tmp_path, capsys):
    out = tmp_path / "out.txt"
    src = _write(tmp_path / "holed.src", ["w1 w2", "", "w3"])
    ckpt = str(corpus["ckpt"])
    _fails(capsys, ["translate", "predict", "--checkpoint", ckpt, "--src", src, "--out",
                    str(out)],
           "rnnkit translate predict: error: source line 2 is empty; there is nothing to "
           "translate")
    _fails(capsys, ["translate", "predict", "--checkpoint", ckpt, "--text", "w1", "--beam",
                    "2", "--n-best", "3", "--out", str(out)],
           "rnnkit translate predict: error: --n-best must be an integer in [1, beam width 2], got 3")
    _fails(capsys, ["translate", "predict", "--checkpoint", ckpt, "--text", "w1", "--beam",
                    "0", "--out", str(out)],
           "rnnkit translate predict: error: beam width must be an integer >= 1, got 0")
    assert not out.exists()


def test_predict_refuses_a_missing_or_foreign_checkpoint(corpus, tmp_path, capsys):
    _fails(capsys, ["translate", "predict", "--checkpoint", str(tmp_path / "none"), "--text",
                    "w1"], f"rnnkit translate predict: error: no checkpoint at "
                           f"{str(tmp_path / 'none')!r} (train one with rnnkit translate train)")
    other = tmp_path / "other"
    rnnkit.save(rnnkit.Seq2Seq(10, 10, hidden_size=8), other)
    _fails(capsys, ["translate", "predict", "--checkpoint", str(other), "--text", "w1"],
           f"rnnkit translate predict: error: checkpoint {str(other)!r} is not a translation "
           "model (written by rnnkit translate train)")


def test_evaluate_refuses_line_count_mismatch_and_writes_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "hyp.txt"
    short = _write(tmp_path / "short.tgt", ["w1"] * 39)
    _fails(capsys, ["translate", "evaluate", "--checkpoint", str(corpus["ckpt"]), "--src",
                    corpus["val_src"], "--tgt", short, "--out", str(out)],
           f"rnnkit translate evaluate: error: parallel text: {corpus['val_src']!r} has 40 "
           f"lines but {short!r} has 39")
    assert not out.exists()


def test_demo_part_learns_the_reversal_and_draws_its_attention(tmp_path, capsys):
    from rnnkit.demos import translate as demo

    demo.run(tmp_path, seed=0, quiet=True)
    out = capsys.readouterr().out
    assert "greedy  exact match on 200 held-out sequences: 100.0%" in out
    assert "'w1 w5 w5 w2 w7 w3' -> 'w3 w7 w2 w5 w5 w1'" in out
    assert (tmp_path / "translate_attention.png").read_bytes()[:4] == b"\x89PNG"


def test_train_header_says_one_pair_and_one_epoch_in_the_singular():
    from types import SimpleNamespace as NS

    import torch

    from rnnkit.apps.translate import Config, _describe

    class Pairs(list):  # a dataset of n pairs, none truncated
        truncated = 0

    def sized(n: int) -> Pairs:
        return Pairs(range(n))

    pairs = NS(skipped_empty=0)
    text = _describe(Config(epochs=1), pairs, pairs, sized(1), sized(1), NS(vocab_size=5),
                     NS(vocab_size=6), torch.nn.Linear(2, 1), 1, torch.device("cpu"))
    assert text.startswith("translate: 1 training pair (skipped 0 with an empty side, "
                           "truncated 0 to ")
    assert "tokens), 1 validation pair (skipped 0, truncated 0); " in text
    assert text.endswith("3 parameters; 1 epoch on cpu")
    assert _describe(Config(epochs=2), pairs, pairs, sized(2), sized(3), NS(vocab_size=5),
                     NS(vocab_size=6), torch.nn.Linear(2, 1), 2, torch.device("cpu")).endswith(
        "; 2 epochs on cpu")
