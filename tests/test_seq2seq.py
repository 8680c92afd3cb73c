"""Seq2Seq: attention masking, padding invariance, the parallel path vs the step loop,
teacher forcing, embeddings tying, checkpoints, decoding (greedy, batched beam search against
``rnnkit.generate.beam_search``), and a generated task learned to >= 99 % exact match."""

import pytest
import torch

import rnnkit
from rnnkit.data.parallel import ParallelDataset, parallel_loader, reversal_pairs
from rnnkit.data.tokenizers import BOS_ID, EOS_ID, WordTokenizer
from rnnkit.decoding import (
    attention_for,
    batch_beam_search,
    exact_match,
    greedy_decode,
    join_tokens,
    translate,
    translate_ids,
)
from rnnkit.generate import beam_search
from rnnkit.models.seq2seq import ATTENTIONS, Seq2Seq, plot_attention


@pytest.fixture
def one_thread():
    """Tiny models train far faster on one thread, and two threads on two shared, busy cores
    can be 20x slower (OpenMP barriers waiting for a descheduled thread)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


VARIANTS = [(a, c, f) for a in ATTENTIONS for c in ("gru", "lstm") for f in (False, True)]


def _model(attention="general", cell="gru", input_feeding=False, **kw):
    kw.setdefault("num_layers", 2)
    return Seq2Seq(13, 17, hidden_size=16, embedding_dim=8, cell=cell, attention=attention,
                   input_feeding=input_feeding, **kw).eval()


def _batch(B=3, S=7, T=5):
    src = torch.randint(4, 13, (B, S))
    lengths = torch.tensor([S, 4, 1][:B])
    src[1, 4:] = 0
    src[2, 1:] = 0
    return src, lengths, torch.randint(4, 17, (B, T))


@pytest.mark.parametrize("attention,cell,feed", VARIANTS)
def test_attention_sums_to_one_over_real_positions_only(attention, cell, feed):
    model = _model(attention, cell, feed)
    src, lengths, tgt = _batch()
    _, weights = model(src, lengths, tgt)  # (B, T, S)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 5), atol=1e-6)
    assert weights[1, :, 4:].abs().sum() == 0 and weights[2, :, 1:].abs().sum() == 0
    assert torch.allclose(weights[2, :, 0], torch.ones(5))  # one real position: all of it
    state = model.encode(src, lengths)
    _, _, w = model.decode_step(tgt[:, 0], state)  # the streaming path masks the same way
    assert torch.allclose(w.sum(-1), torch.ones(3), atol=1e-6) and w[1, 4:].abs().sum() == 0


@pytest.mark.parametrize("attention,cell,feed", VARIANTS)
def test_forward_equals_the_step_loop(double, attention, cell, feed):
    """Oracle: the whole-sequence forward (parallel path where it applies) vs decode_step."""
    model = _model(attention, cell, feed)
    src, lengths, tgt = _batch()
    logits, weights = model(src, lengths, tgt)
    state, steps, attn = model.encode(src, lengths), [], []
    for t in range(tgt.shape[1]):
        step_logits, state, w = model.decode_step(tgt[:, t], state)
        steps.append(step_logits)
        attn.append(w)
    assert torch.allclose(logits, torch.stack(steps, 1), atol=1e-10)
    assert torch.allclose(weights, torch.stack(attn, 1), atol=1e-10)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_encoder_is_padding_invariant(double, cell):
    """A sentence gives the same memory, final state and logits alone and in a padded batch."""
    model = _model("bahdanau", cell, True)
    src, lengths, tgt = _batch()
    state = model.encode(src, lengths)
    _, T = tgt.shape
    logits, _ = model(src, lengths, tgt)
    for b in range(3):
        n = int(lengths[b])
        alone = model.encode(src[b:b + 1, :n], None)
        assert torch.allclose(state["memory"][b, :n], alone["memory"][0], atol=1e-10)
        assert state["memory"][b, n:].abs().sum() == 0  # padding stays zero
        rnn_b = [s[:, b] for s in state["rnn"]] if cell == "lstm" else [state["rnn"][:, b]]
        rnn_1 = [s[:, 0] for s in alone["rnn"]] if cell == "lstm" else [alone["rnn"][:, 0]]
        assert all(torch.allclose(x, y, atol=1e-10) for x, y in zip(rnn_b, rnn_1, strict=True))
        logits_1, _ = model(src[b:b + 1, :n], None, tgt[b:b + 1])
        assert torch.allclose(logits[b], logits_1[0], atol=1e-10)
        # extra padding columns change nothing either
        wide = torch.cat([src[b:b + 1, :n], torch.zeros(1, 4, dtype=torch.long)], 1)
        logits_w, _ = model(wide, torch.tensor([n]), tgt[b:b + 1])
        assert torch.allclose(logits_w, logits_1, atol=1e-10)


def test_teacher_forcing_zero_feeds_the_models_own_predictions():
    model = _model(dropout=0.0, teacher_forcing_ratio=0.0).train()
    src, lengths, tgt = _batch()
    other = tgt.clone()
    other[:, 1:] = torch.randint(4, 17, (3, 4))
    a, _ = model(src, lengths, tgt)
    b, _ = model(src, lengths, other)  # only the first (<bos>) input is used
    assert torch.equal(a, b)
    forced, _ = model.eval()(src, lengths, tgt)  # eval always uses the true tokens
    assert not torch.allclose(forced, a)


def test_tied_and_shared_embeddings_survive_a_checkpoint(tmp_path):
    tied = Seq2Seq(20, 20, hidden_size=16, embedding_dim=8, tie_embeddings=True,
                   share_embeddings=True).eval()
    assert tied.head.weight is tied.tgt_embedding.weight is tied.src_embedding.weight
    assert tied.combine.out_features == 8  # h~ has E units so that W_o = E_tgt fits
    separate = Seq2Seq(20, 20, hidden_size=16, embedding_dim=8)
    n = sum(p.numel() for p in tied.parameters())
    assert sum(p.numel() for p in separate.parameters()) - n == 2 * 20 * 8 + (16 - 8) * 32 + (
        16 - 8) * 20  # one embedding, W_o and the larger W_c fewer
    rnnkit.save(tied, tmp_path / "ckpt")
    back = rnnkit.load(tmp_path / "ckpt")
    assert back.head.weight is back.tgt_embedding.weight is back.src_embedding.weight
    src, lengths, _ = _batch()
    tgt = torch.randint(4, 20, (3, 5))
    assert torch.equal(tied(src, lengths, tgt)[0], back(src, lengths, tgt)[0])


def test_checkpoint_round_trip(tmp_path):
    model = _model("bahdanau", "lstm", True, dropout=0.2, teacher_forcing_ratio=0.5)
    rnnkit.save(model, tmp_path / "m")
    back = rnnkit.load(tmp_path / "m")
    assert isinstance(back, Seq2Seq) and back.config == model.config
    src, lengths, tgt = _batch()
    assert torch.equal(model(src, lengths, tgt)[0], back(src, lengths, tgt)[0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(cell="rnn"), "Seq2Seq: cell must be one of gru, lstm, got 'rnn'"),
    (dict(attention="concat"), "Seq2Seq: attention must be one of bahdanau, dot, general, got "
                               "'concat'"),
    (dict(hidden_size=15), "Seq2Seq: a bidirectional encoder needs an even hidden_size"),
    (dict(teacher_forcing_ratio=1.5), r"Seq2Seq: teacher_forcing_ratio must lie in \[0, 1\]"),
    (dict(share_embeddings=True), "Seq2Seq: share_embeddings needs one joint vocabulary, got "
                                  "src_vocab_size=13 and tgt_vocab_size=17"),
    (dict(hidden_size=0), "Seq2Seq: hidden_size must be a positive integer, got 0"),
])
def test_bad_configuration_is_refused(kwargs, message):
    args = dict(src_vocab_size=13, tgt_vocab_size=17, hidden_size=16) | kwargs
    with pytest.raises(ValueError, match=message):
        Seq2Seq(**args)


def test_bad_inputs_are_refused():
    model = _model()
    with pytest.raises(ValueError, match=r"Seq2Seq: expected integer source tokens of shape "
                                         r"\(B, T\), got \(7,\)"):
        model(torch.ones(7, dtype=torch.long), None, torch.ones(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="Seq2Seq: source and target batches differ: 2 and 3"):
        model(torch.ones(2, 4, dtype=torch.long), None, torch.ones(3, 3, dtype=torch.long))


# ---------------------------------------------------------------------------- decoding
def test_beam_width_one_equals_greedy():
    torch.manual_seed(1)
    model = _model("bahdanau", "gru", True)
    src, lengths, _ = _batch()
    greedy = greedy_decode(model, src, lengths, max_len=12)
    beam = batch_beam_search(model.step, model.encode(src, lengths), [BOS_ID] * 3,
                             beam_width=1, max_len=12, eos_id=EOS_ID,
                             reorder=model.reorder_state)
    assert [h[0].tokens for h in beam] == greedy
    assert all(len(g) > 0 for g in greedy)  # a real comparison, not of empty outputs


@pytest.mark.parametrize("width,penalty", [(3, 1.0), (4, 0.0), (5, 0.6)])
def test_batched_beam_search_equals_generate_beam_search_per_source(width, penalty):
    """Oracle: rnnkit.generate.beam_search on each source alone."""
    torch.manual_seed(2)
    model = Seq2Seq(13, 9, hidden_size=16, embedding_dim=8, attention="general").eval()
    src, lengths, _ = _batch()
    batched = batch_beam_search(model.step, model.encode(src, lengths), [BOS_ID] * 3,
                                beam_width=width, max_len=10, eos_id=EOS_ID,
                                length_penalty=penalty, reorder=model.reorder_state)
    for b in range(3):
        n = int(lengths[b])
        alone = beam_search(model.step, model.encode(src[b:b + 1, :n]), BOS_ID,
                            beam_width=width, max_len=10, eos_id=EOS_ID,
                            length_penalty=penalty, reorder=model.reorder_state)
        assert [h.tokens for h in batched[b]] == [h.tokens for h in alone]
        assert [h.score for h in batched[b]] == pytest.approx([h.score for h in alone],
                                                               abs=1e-4)
        assert [h.score for h in batched[b]] == sorted((h.score for h in batched[b]),
                                                       reverse=True)


def test_search_options_are_checked():
    model = _model()
    with pytest.raises(ValueError, match="beam width must be an integer >= 1, got 0"):
        translate_ids(model, [[5, 6]], beam_width=0)
    with pytest.raises(ValueError, match=r"n-best must be an integer in \[1, beam width 2\], "
                                         "got 3"):
        translate_ids(model, [[5, 6]], beam_width=2, n_best=3)
    with pytest.raises(ValueError, match="max length must be a positive integer, got 0"):
        translate_ids(model, [[5, 6]], max_len=0)


def test_plot_attention_writes_a_png(tmp_path):
    model = _model()
    weights = attention_for(model, [5, 6, 7], [4, 9])
    assert weights.shape == (3, 3) and torch.allclose(weights.sum(-1), torch.ones(3))
    path = plot_attention(weights, ["a", "b", "c"], ["x", "y", "<eos>"], tmp_path / "a.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"plot_attention: expected weights of shape \(2, 3\)"):
        plot_attention(weights, ["a", "b", "c"], ["x", "y"], tmp_path / "b.png")
    assert not (tmp_path / "b.png").exists()


# ------------------------------------------------------------------------ a learned task
def test_reversal_is_learned_to_99_percent_exact_match(one_thread):
    """Additive attention fed back into the decoder (context and h~): the decoder knows where
    it looked last, so repeated words ("w1 w1") do not derail it (general attention without
    input feeding reaches ~94 % here: its state cannot tell which of the two it has copied)."""
    src, tgt = reversal_pairs(2000, vocab=8, min_len=2, max_len=6, seed=0)
    test_src, test_tgt = reversal_pairs(200, vocab=8, min_len=2, max_len=6, seed=1)
    tok = WordTokenizer(punctuation="keep").fit(src + tgt)
    data = ParallelDataset(src, tgt, tok, tok)
    model = Seq2Seq(tok.vocab_size, tok.vocab_size, hidden_size=64, embedding_dim=32,
                    attention="bahdanau", input_feeding=True, share_embeddings=True,
                    max_src_len=10)
    rnnkit.fit(model, parallel_loader(data, 32, seed=0), epochs=10, loss="cross_entropy",
               lr=5e-3, schedule="cosine", clip_norm=1.0, progress=False, device="cpu")
    for beam in (1, 4):
        hyps = translate(model, test_src, tok, tok, beam_width=beam)
        assert exact_match(hyps, test_tgt) >= 0.99, (beam, exact_match(hyps, test_tgt))
    assert join_tokens(tok, tok.encode("w1 w2 w3")) == "w1 w2 w3"
