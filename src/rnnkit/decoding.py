"""Decoding a ``Seq2Seq``: greedy and batched beam search, translating text, BLEU, exact match.

``batch_beam_search`` is ``rnnkit.generate.beam_search`` run on B sources at once: the same
step-function contract ``step(tokens (R,), state) -> (log_probs (R, V), state)``, the same
``Hypothesis`` results and ranking (``sum log p / length ** length_penalty``, ``<eos>``
counted in the length), the same stopping rule, applied to each source separately — so each
source's result equals what ``beam_search`` returns for it alone. The R rows of the state hold
the live hypotheses of every unfinished source, one after another; after each step the state
is reordered to the surviving hypotheses' parents (``reorder``), and finished sources drop out
of the batch. Width 1 is greedy decoding.

Translations are written as the target tokens joined by single spaces — the tokenised form of
the training data (Multi30k's ``*.tok`` files), which is also what BLEU compares. BLEU is
sacrebleu's corpus BLEU; with ``tokenize="none"`` it scores those tokens as they are (the
usual choice for tokenised, lower-cased text), with ``"13a"`` sacrebleu re-tokenises first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .data.parallel import encode_sources
from .data.tokenizers import BOS_ID, EOS_ID, PAD_ID, pad_sequences
from .generate import Hypothesis, reorder_state
from .metrics import bleu, exact_match  # moved to rnnkit.metrics; importable here too

__all__ = ["batch_beam_search", "greedy_decode", "translate_ids", "translate", "join_tokens",
           "attention_for", "bleu", "exact_match"]


def _check_search(beam_width, max_len, n_best=1) -> None:
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam width must be an integer >= 1, got {beam_width!r}")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max length must be a positive integer, got {max_len!r}")
    if isinstance(n_best, bool) or not isinstance(n_best, int) or not 1 <= n_best <= beam_width:
        raise ValueError(f"n-best must be an integer in [1, beam width {beam_width}], got "
                         f"{n_best!r}")


@torch.no_grad()
def batch_beam_search(step: Callable, state, start_tokens: Sequence[int] | Tensor, *,
                      beam_width: int = 5, max_len: int = 100, eos_id: int | None = None,
                      length_penalty: float = 1.0, n_best: int | None = None,
                      reorder: Callable | None = None, batch_dim: int = 1,
                      device: torch.device | str | None = None) -> list[list[Hypothesis]]:
    """Beam search for B sequences at once; returns, per sequence, its best hypotheses.

    Args:
        step: ``(tokens (R,) long, state) -> (log_probs (R, V), state)``.
        state: the state before the start tokens, batch of B (row b: sequence b).
        start_tokens: (B,) the first token of each sequence (``<bos>``).
        beam_width: K, hypotheses kept per sequence and step.
        max_len: new tokens at most per hypothesis.
        eos_id: the token that ends a hypothesis (None: all run to ``max_len``).
        length_penalty: rank by ``log p / length ** length_penalty``.
        n_best: hypotheses returned per sequence (default: ``beam_width``), best first.
        reorder: ``reorder(state, index) -> state`` selecting rows; default
            ``rnnkit.generate.reorder_state`` along ``batch_dim``.
        device: where the token tensors fed to ``step`` live (the model's device).
    """
    K = beam_width
    n_best = K if n_best is None else n_best
    _check_search(beam_width, max_len, n_best)
    if reorder is None:
        def reorder(s, index):
            return reorder_state(s, index, batch_dim)
    tokens = torch.as_tensor(start_tokens, dtype=torch.long, device=device)
    if tokens.dim() != 1 or tokens.numel() == 0:
        raise ValueError(f"batch_beam_search: expected start tokens of shape (B,), got "
                         f"{tuple(tokens.shape)}")
    B = tokens.numel()
    seqs: list[list[list[int]]] = [[[]] for _ in range(B)]  # live hypotheses per sequence
    scores: list[list[float]] = [[0.0] for _ in range(B)]
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    active = list(range(B))  # sequences still searched, in row order

    def normalised(log_prob: float, length: int) -> float:
        return log_prob / (length ** length_penalty)

    for t in range(1, max_len + 1):
        log_probs, state = step(tokens, state)  # (R, V)
        V = log_probs.shape[-1]
        flat = torch.tensor([s for b in active for s in scores[b]], device=log_probs.device)
        cand_all = flat.unsqueeze(1) + log_probs.float()  # (R, V)
        index, next_tokens, still = [], [], []
        row = 0
        for b in active:
            n = len(seqs[b])
            cand = cand_all[row:row + n].flatten()  # (n * V,)
            top_scores, top_idx = cand.topk(min(2 * K, cand.numel()))
            keep_parent, keep_token, keep_score = [], [], []
            for rank, (s, i) in enumerate(zip(top_scores.tolist(), top_idx.tolist(),
                                              strict=True)):
                parent, token = divmod(i, V)
                if eos_id is not None and token == eos_id:
                    if rank < K:  # an <eos> among the K best ends its hypothesis
                        finished[b].append(Hypothesis(seqs[b][parent], s, normalised(s, t)))
                    continue
                keep_parent.append(parent)
                keep_token.append(token)
                keep_score.append(s)
                if len(keep_parent) == K:
                    break
            seqs[b] = [seqs[b][p] + [tok] for p, tok in zip(keep_parent, keep_token,
                                                            strict=True)]
            scores[b] = keep_score
            done = t == max_len or not seqs[b]
            if not done and len(finished[b]) >= K:  # can a live one still beat the K best?
                worst_kept = sorted((h.score for h in finished[b]), reverse=True)[K - 1]
                done = worst_kept >= normalised(max(keep_score), t)
            if not done:
                still.append(b)
                index += [row + p for p in keep_parent]
                next_tokens += keep_token
            row += n
        active = still
        if not active:
            break
        state = reorder(state, torch.tensor(index, dtype=torch.long, device=log_probs.device))
        tokens = torch.tensor(next_tokens, dtype=torch.long, device=device)
    results = []
    for b in range(B):  # the live hypotheses compete too, as in beam_search
        hyps = finished[b] + [Hypothesis(s, sc, normalised(sc, len(s)))
                              for s, sc in zip(seqs[b], scores[b], strict=True)]
        hyps.sort(key=lambda h: -h.score)
        results.append(hyps[:n_best])
    return results


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, src_lengths: Tensor | None = None,
                  max_len: int = 100) -> list[list[int]]:
    """The argmax translation of each source (``<eos>`` excluded), all B decoded at once."""
    _check_search(1, max_len)
    state = model.encode(src, src_lengths)
    B = src.shape[0]
    tokens = torch.full((B,), BOS_ID, dtype=torch.long, device=src.device)
    out: list[list[int]] = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits, state, _ = model.decode_step(tokens, state)
        tokens = logits.argmax(-1)  # (B,)
        for b in (~done).nonzero().flatten().tolist():
            if int(tokens[b]) != EOS_ID:
                out[b].append(int(tokens[b]))
        done |= tokens == EOS_ID
        if bool(done.all()):
            break
    return out


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def translate_ids(model: nn.Module, sources: Sequence[Sequence[int]], *, beam_width: int = 5,
                  length_penalty: float = 1.0, max_len: int | None = None, n_best: int = 1,
                  batch_size: int = 64) -> list[list[Hypothesis]]:
    """Translate encoded sources; per source, its ``n_best`` hypotheses, best first.

    Sources are decoded in batches of similar length (results come back in input order).
    ``max_len`` (new tokens) defaults to twice the batch's longest source plus 10. Width 1
    decodes greedily (the same result as beam search of width 1, faster).
    """
    if not sources:
        return []
    _check_search(beam_width, max_len if max_len is not None else 1, n_best)
    device = _model_device(model)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    results: list[list[Hypothesis]] = [[] for _ in sources]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            src, lengths = pad_sequences([list(sources[i]) for i in chunk])
            src, lengths = src.to(device), lengths.to(device)
            limit = max_len if max_len is not None else 2 * int(lengths.max()) + 10
            if beam_width == 1:
                found = [[Hypothesis(ids, float("nan"), float("nan"))]
                         for ids in greedy_decode(model, src, lengths, limit)]
            else:
                found = batch_beam_search(
                    model.step, model.encode(src, lengths), [BOS_ID] * len(chunk),
                    beam_width=beam_width, max_len=limit, eos_id=EOS_ID,
                    length_penalty=length_penalty, n_best=n_best, reorder=model.reorder_state,
                    device=device)
            for i, hyps in zip(chunk, found, strict=True):
                results[i] = hyps
    finally:
        model.train(was_training)
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
    device = _model_device(model)
    was_training = model.training
    model.eval()
    try:
        src = torch.tensor([list(src_ids)], dtype=torch.long, device=device)
        tgt_in = torch.tensor([[BOS_ID, *tgt_ids]], dtype=torch.long, device=device)
        _, weights = model(src, None, tgt_in)
    finally:
        model.train(was_training)
    return weights[0].cpu()
