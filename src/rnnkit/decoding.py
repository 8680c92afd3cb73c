"""Decoding a ``Seq2Seq``: greedy and batched beam search, translating text, BLEU, exact match.

Beam search is ``rnnkit.generate.batch_beam_search`` (the one implementation; importable from
here too), run on a batch of sources with ``model.step`` and ``model.reorder_state``: each
source's result equals what ``beam_search`` returns for it alone. Width 1 decodes greedily
(``greedy_decode``, the same result, faster).

Neither ever emits ``<pad>`` or ``<bos>`` (``NEVER_EMITTED``): no target sentence holds them,
so their log-probabilities are -inf at every step (``rnnkit.generate.suppressed``, as textgen
masks its non-text ids). The mask is applied after the softmax, as fairseq masks ``<pad>``, so
every other hypothesis keeps exactly the score it had. ``<unk>`` stays a legitimate output (a
rare word), and ``<eos>`` ends a translation.

Translations are written as the target tokens joined by single spaces — the tokenised form of
the training data (Multi30k's ``*.tok`` files), which is also what BLEU compares. BLEU is
sacrebleu's corpus BLEU; with ``tokenize="none"`` it scores those tokens as they are (the
usual choice for tokenised, lower-cased text), with ``"13a"`` sacrebleu re-tokenises first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .data.parallel import encode_sources
from .data.tokenizers import BOS_ID, EOS_ID, PAD_ID, pad_sequences
from .generate import (
    Hypothesis,
    _check_search,
    _device_of,
    _limits,
    batch_beam_search,
    suppressed,
)
from .metrics import bleu, exact_match  # moved to rnnkit.metrics; importable here too
from .runtime import evaluating

NEVER_EMITTED = (PAD_ID, BOS_ID)  # target ids a translation never holds (masked in decoding)

__all__ = ["NEVER_EMITTED", "batch_beam_search", "greedy_decode", "translate_ids", "translate",
           "join_tokens", "attention_for", "bleu", "exact_match"]


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, src_lengths: Tensor | None = None,
                  max_len: int | Sequence[int] = 100,
                  suppress_ids: Sequence[int] = NEVER_EMITTED) -> list[list[int]]:
    """The argmax translation of each source (``<eos>`` excluded), all B decoded at once, each
    at most ``max_len`` tokens (one for all, or one per source); ``suppress_ids`` are never
    chosen."""
    B = src.shape[0]
    limits = _limits(max_len, B)
    for limit in limits:
        _check_search(1, limit)
    state = model.encode(src, src_lengths)
    tokens = torch.full((B,), BOS_ID, dtype=torch.long, device=src.device)
    out: list[list[int]] = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    cap = torch.tensor(limits, device=src.device)
    for t in range(1, max(limits) + 1):
        logits, state, _ = model.decode_step(tokens, state)
        tokens = suppressed(logits, suppress_ids).argmax(-1)  # (B,)
        for b in (~done).nonzero().flatten().tolist():
            if int(tokens[b]) != EOS_ID:
                out[b].append(int(tokens[b]))
        done |= (tokens == EOS_ID) | (cap <= t)
        if bool(done.all()):
            break
    return out


@torch.no_grad()
def translate_ids(model: nn.Module, sources: Sequence[Sequence[int]], *, beam_width: int = 5,
                  length_penalty: float = 1.0, max_len: int | None = None, n_best: int = 1,
                  batch_size: int = 64,
                  suppress_ids: Sequence[int] = NEVER_EMITTED) -> list[list[Hypothesis]]:
    """Translate encoded sources; per source, its ``n_best`` hypotheses, best first.

    Sources are decoded in batches of similar length (results come back in input order).
    ``max_len`` (new tokens) defaults to twice each source's length plus 10. Width 1
    decodes greedily (the same result as beam search of width 1, faster). ``suppress_ids``
    (default ``<pad>``, ``<bos>``) are never chosen; the other tokens' scores are unchanged.
    """
    if not sources:
        return []
    _check_search(beam_width, max_len if max_len is not None else 1, n_best)
    device = _device_of(model)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[list[Hypothesis]] = [[] for _ in sources]

    def step(tokens, state):  # model.step with the suppressed ids at -inf (no renormalising)
        log_probs, state = model.step(tokens, state)
        return suppressed(log_probs, suppress_ids), state

    with evaluating(model):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            src, lengths = pad_sequences([list(sources[i]) for i in chunk])
            src, lengths = src.to(device), lengths.to(device)
            # each source's own default: twice its length plus 10 (a batch's longest made a
            # sentence's translation depend on the sentences decoded beside it)
            limit = max_len if max_len is not None else [2 * int(n) + 10 for n in lengths]
            if beam_width == 1:
                found = [[Hypothesis(ids, float("nan"), float("nan"))]
                         for ids in greedy_decode(model, src, lengths, limit, suppress_ids)]
            else:
                found = batch_beam_search(
                    step, model.encode(src, lengths), [BOS_ID] * len(chunk),
                    beam_width=beam_width, max_len=limit, eos_id=EOS_ID,
                    length_penalty=length_penalty, n_best=n_best, reorder=model.reorder_state,
                    device=device)
            for i, hyps in zip(chunk, found, strict=True):
                results[i] = hyps
    return results


def join_tokens(tokenizer, ids: Sequence[int]) -> str:
    """Tokens of ``ids`` joined by single spaces (specials but ``<unk>`` dropped)."""
    return " ".join(tokenizer.itos[int(i)] for i in ids
                    if int(i) not in (PAD_ID, BOS_ID, EOS_ID))


def translate(model: nn.Module, sentences: Sequence[str], src_tokenizer, tgt_tokenizer, *,
              beam_width: int = 5, length_penalty: float = 1.0, max_len: int | None = None,
              too_long: str = "truncate", batch_size: int = 64) -> list[str]:
    """Translate sentences with a trained ``Seq2Seq``; returns space-joined target tokens.

    Unknown source words become ``<unk>``; a source longer than the model's ``max_src_len``
    is cut to it (``too_long="truncate"``) or refused (``"error"``).

    Example:
        >>> translate(model, ["ein mann fährt fahrrad ."], de_tok, en_tok)  # doctest: +SKIP
        ['a man rides a bike .']
    """
    ids, _ = encode_sources(sentences, src_tokenizer, model.max_src_len, too_long)
    found = translate_ids(model, ids, beam_width=beam_width, length_penalty=length_penalty,
                          max_len=max_len, batch_size=batch_size)
    return [join_tokens(tgt_tokenizer, hyps[0].tokens) for hyps in found]


@torch.no_grad()
def attention_for(model: nn.Module, src_ids: Sequence[int], tgt_ids: Sequence[int]) -> Tensor:
    """Attention (len(tgt_ids) + 1, len(src_ids)) of the model producing ``tgt_ids`` + ``<eos>``.

    Teacher-forced on the given output, so for a translation the model produced it shows
    exactly the weights the search saw (the last row is the ``<eos>`` step).
    """
    device = _device_of(model)
    with evaluating(model):
        src = torch.tensor([list(src_ids)], dtype=torch.long, device=device)
        tgt_in = torch.tensor([[BOS_ID, *tgt_ids]], dtype=torch.long, device=device)
        _, weights = model(src, None, tgt_in)
    return weights[0].cpu()
