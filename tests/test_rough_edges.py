"""Rough edges of the application verbs (session 14): translation never emits <pad>/<bos>;
classify evaluate scores labels unseen in training; forecast predict and anomaly score
honour --device; --resume on a finished run trains nothing more."""

import pytest
import torch

from rnnkit.apps.translate import Config as TranslateConfig
from rnnkit.apps.translate import TranslatePredictor
from rnnkit.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, WordTokenizer
from rnnkit.decoding import translate_ids
from rnnkit.models.seq2seq import Seq2Seq


# ------------------------------------------------ 1. translation never emits <pad> or <bos>
def _translator(favoured: dict[int, float]) -> TranslatePredictor:
    """An untrained translator whose output layer strongly favours the given target ids."""
    src_tok = WordTokenizer(min_freq=1).fit(["ein mann fährt .", "eine frau sieht ."])
    tgt_tok = WordTokenizer(min_freq=1).fit(["a man rides .", "a woman sees ."])
    torch.manual_seed(0)
    model = Seq2Seq(src_tok.vocab_size, tgt_tok.vocab_size, hidden_size=8, embedding_dim=4)
    with torch.no_grad():
        for token, bias in favoured.items():
            model.head.bias[token] += bias
    return TranslatePredictor(model.eval(), TranslateConfig(), src_tok, tgt_tok)


@pytest.mark.parametrize("beam", [1, 3])
def test_translation_never_emits_pad_or_bos(beam):
    predictor = _translator({BOS_ID: 30.0, PAD_ID: 29.0})
    ids, _, _ = predictor.encode(["ein mann fährt .", "eine frau sieht ."])
    for hyps in predictor.search(ids, beam, max_len=6, n_best=beam):
        for h in hyps:
            assert h.tokens and not {PAD_ID, BOS_ID} & set(h.tokens)
    _, _, tokens_out, matrix = predictor.attention("ein mann fährt .", beam, max_len=6)
    assert "<bos>" not in tokens_out and "<pad>" not in tokens_out
    assert matrix.shape[0] == len(tokens_out)
    # the mask is opt-out for a caller of rnnkit.decoding that wants the raw argmax
    raw = translate_ids(predictor.model, ids, beam_width=beam, max_len=3, suppress_ids=())
    assert raw[0][0].tokens == [BOS_ID] * 3


@pytest.mark.parametrize("beam", [1, 3])
def test_translation_keeps_unk_and_eos(beam):
    predictor = _translator({UNK_ID: 30.0})  # <unk> is a legitimate output (a rare word)
    ids, _, _ = predictor.encode(["ein mann ."])
    assert predictor.search(ids, beam, max_len=4)[0][0].tokens == [UNK_ID] * 4
    assert predictor.predict(["ein mann ."], beam, max_len=4) == ["<unk> <unk> <unk> <unk>"]
    predictor = _translator({EOS_ID: 30.0})  # <eos> still ends a translation
    assert predictor.search(ids, beam, max_len=4)[0][0].tokens == []


def test_translation_mask_leaves_other_scores_unchanged():
    predictor = _translator({})
    ids, _, _ = predictor.encode(["ein mann fährt .", "eine frau sieht ."])
    model = predictor.model
    masked = translate_ids(model, ids, beam_width=3, n_best=3, max_len=5)
    raw = translate_ids(model, ids, beam_width=3, n_best=3, max_len=5, suppress_ids=())
    for m, r in zip(masked, raw, strict=True):
        kept = [h for h in r if not {PAD_ID, BOS_ID} & set(h.tokens)]
        for h in kept:  # every hypothesis both searches found scores the same
            same = [x for x in m if x.tokens == h.tokens]
            assert not same or same[0].score == h.score
