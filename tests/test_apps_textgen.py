"""rnnkit.apps.textgen's pieces: exact stateful validation loss, block loss, lr schedule, config."""


import math

import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.apps.textgen import (
    TextGenConfig,
    block_loss,
    build_model,
    encode_text,
    lr_factor,
    make_optimizer,
    prepare,
    stream_loss,
)
from rnnkit.models.language_model import LanguageModel


@torch.no_grad()
def _nll(lm, ids, state=None):
    """Summed next-token NLL of one stream read in one call, and its final state."""
    logits, state = lm(ids[:-1].view(1, -1), state)
    return float(F.cross_entropy(logits[0], ids[1:], reduction="sum")), state


@pytest.mark.parametrize("streams", [1, 3])
def test_stream_loss_scores_every_token_once_carrying_the_state(streams, double):
    lm = LanguageModel(9, 8, cell="gru").eval()
    ids = torch.randint(0, 9, (101,))
    got = stream_loss(lm, ids, num_streams=streams, seq_len=7)
    # oracle: each of the equal streams read whole from a zero state; the 1 or 2 targets left
    # over continue the last stream
    n = (len(ids) - 1) // streams
    total = 0.0
    for b in range(streams):
        nll, state = _nll(lm, ids[b * n: (b + 1) * n + 1])
        total += nll
    if streams * n + 1 < len(ids):
        nll, _ = _nll(lm, ids[streams * n:], state)
        total += nll
    assert got == pytest.approx(total / (len(ids) - 1), abs=1e-9)


def test_block_loss_matches_a_loop_over_blocks(double):
    lm = LanguageModel(9, 8).eval()
    ids = torch.randint(0, 9, (300,))
    got = block_loss(lm, ids, block_size=16, num_blocks=10, batch_size=4, seed=5)
    starts = torch.randint(0, 300 - 16, (10,), generator=torch.Generator().manual_seed(5))
    want = sum(_nll(lm, ids[s: s + 17])[0] for s in starts.tolist()) / (10 * 16)
    assert got == pytest.approx(want, abs=1e-9)


def test_lr_factor_warms_up_then_decays_to_the_final_ratio():
    assert lr_factor(0.0, "cosine", warmup=0.1) < 0.02
    assert lr_factor(0.1, "cosine", warmup=0.1, final_ratio=0.05) == pytest.approx(1.0)
    assert lr_factor(1.0, "cosine", warmup=0.1, final_ratio=0.05) == pytest.approx(0.05)
    assert lr_factor(0.55, "cosine", warmup=0.1, final_ratio=0.0) == pytest.approx(0.5)
    assert lr_factor(0.55, "linear", warmup=0.1, final_ratio=0.0) == pytest.approx(0.5)
    assert lr_factor(0.7, "constant") == 1.0


def test_word_level_stream_ends_lines_with_eos_and_prepare_splits_90_10():
    config = TextGenConfig(level="word", lower=True, batch_size=2)
    tok, train, val = prepare("A b.\n\nB a!\n" * 10, config)
    assert encode_text(tok, "a b\n\nb") == [tok.stoi["a"], tok.stoi["b"], 3, tok.stoi["b"], 3]
    assert len(train) + len(val) == 80 and len(val) == 8  # the last 2 of 20 lines


@pytest.mark.parametrize("change, message", [
    (dict(level="byte"), r"^level must be one of char, word, got 'byte'$"),
    (dict(dropout=1.0), r"^dropout must lie in \[0, 1\), got 1.0$"),
    (dict(hidden_size=0), r"^hidden_size must be a positive integer, got 0$"),
    (dict(tie_weights=True, hidden_size=32),
     r"^tie_weights needs the embedding size \(64\) to equal hidden size \(32\)$"),
    (dict(weight_decay=-0.5), r"^weight_decay must be >= 0, got -0.5$"),
    (dict(embedding_dropout=1.0), r"^embedding_dropout must lie in \[0, 1\), got 1.0$"),
])
def test_config_errors(change, message):
    with pytest.raises(ValueError, match=message):
        TextGenConfig(**change).check()


def test_weight_decay_switches_adam_to_decoupled_adamw():
    config = TextGenConfig(hidden_size=8, weight_decay=0.1)
    model = build_model(config, vocab_size=10)
    opt = make_optimizer(model, config)
    assert type(opt) is torch.optim.AdamW and opt.defaults["weight_decay"] == 0.1
    assert type(make_optimizer(model, TextGenConfig(hidden_size=8))) is torch.optim.Adam


def _cpu_runs_bf16_lstm() -> bool:
    """oneDNN refuses the bf16 LSTM kernel on CPUs without bf16 support (this test's host may
    be one: 0.1.0 fails there the same way)."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.LSTM(4, 4, batch_first=True)(torch.zeros(1, 2, 4))
        return True
    except RuntimeError:
        return False


@pytest.mark.skipif(not _cpu_runs_bf16_lstm(), reason="this CPU has no bf16 LSTM kernel")
def test_bf16_training_keeps_float32_weights(tmp_path):
    from rnnkit.apps.textgen import train

    text = "the cat sat on the mat. " * 60
    config = TextGenConfig(hidden_size=16, batch_size=4, seq_len=16, precision="bf16", epochs=1)
    history = train(config, text, tmp_path / "ck", quiet=True)
    assert math.isfinite(history["val_loss"][0]) and history.best_epoch == 1
    assert all(p.dtype == torch.float32 for p in history.model.parameters())
    assert all(p.dtype == torch.float32 for p in rnnkit.open(tmp_path / "ck").model.parameters())


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("beam", [None, 3])
def test_samples_never_show_tokens_that_are_no_text(level, beam):
    """<pad>, <bos> and <unk> (and <eos> at char level) are never drawn, even where the
    model favours them: an undertrained model printed a literal "<unk>"."""
    from rnnkit.apps.textgen import sample_text
    from rnnkit.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, CharTokenizer, WordTokenizer

    tok = CharTokenizer().fit("abc abc\n") if level == "char" else WordTokenizer().fit(
        "the cat sat\nthe dog ran\n")
    torch.manual_seed(0)
    lm = LanguageModel(tok.vocab_size, 8).eval()
    with torch.no_grad():
        lm.head.bias.zero_()
        lm.head.bias[[PAD_ID, BOS_ID, UNK_ID, EOS_ID]] = 8.0  # the specials win by far
    text = "".join(sample_text(lm, tok, "", 40, temperature=1.0, beam=beam, seed=0,
                               stop_at_eos=False))
    assert text and "<" not in text, text
    if level == "word":  # word level's <eos> is a line break, and stays allowed
        assert "\n" in text
