"""Generating sequences from recurrent models: sampling and beam search, carrying the state.

Sampling (``generate``, ``stream``) works with any *language model* called as
``model(tokens (B, T) long, state) -> (logits (B, T, V), state)`` — ``rnnkit.LanguageModel``
is one. The prompt is read in one call; after that the model sees one new token per call,
with the recurrent state carried, never the whole context again: N new tokens after a prompt
cost one call on the prompt plus N - 1 single-token calls. The next token is drawn from

    p(v) ∝ exp(l_v / temperature)    over the top_k largest logits, then over the smallest
                                     set of tokens whose probability reaches top_p

with a CTRL-style ``repetition_penalty`` (Keskar et al. 2019) first dividing positive and
multiplying negative logits of tokens already in the context; temperature 0 is greedy
(argmax). Sampling is reproducible: draws come from a ``torch.Generator`` seeded by ``seed``.

Beam search (``beam_search``) is written against a *step function*, so any recurrent decoder
can use it — a language model (``lm_step``) or a seq2seq decoder whose state carries the
encoder's outputs::

    step(tokens: LongTensor (K,), state) -> (log_probs: Tensor (K, V), new_state)

``tokens`` holds the last token of each of the K live hypotheses and ``state`` their states,
batched along ``batch_dim`` (1 for ``rnnkit.RNN``'s (L, K, H) layout). After each step the
search keeps the best hypotheses and reorders the state with ``reorder_state(state, index)``,
``index`` a (K',) long tensor of the parent hypotheses (default: ``index_select`` along
``batch_dim`` on every tensor of the state, which may be a nested tuple/list/dict of tensors;
pass your own for other layouts, e.g. encoder outputs batched along dim 0). The search starts
from one hypothesis (``start_token`` with a batch-of-one ``state``) and finishes a hypothesis
when it emits ``eos_id``; hypotheses are ranked by ``sum log p / length ** length_penalty``
(length counts the generated tokens, ``<eos>`` included; 0 = no normalisation, > 0 favours
longer ones). Width 1 is greedy decoding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .runtime import check_seed, evaluating

__all__ = ["generate", "stream", "sample_next", "check_sampling", "beam_search",
           "batch_beam_search", "beam_generate", "lm_step", "reorder_state", "Hypothesis"]


# ---------------------------------------------------------------------------------- sampling
def check_sampling(temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None, repetition_penalty: float = 1.0) -> None:
    """Raise ``ValueError`` with one clear line for settings outside their ranges."""
    if not isinstance(temperature, numbers.Real) or isinstance(temperature, bool) or \
            not 0 <= temperature < float("inf"):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got "
                         f"{temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                              or top_k < 1):
        raise ValueError(f"top-k must be an integer >= 1, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, numbers.Real) or isinstance(top_p, bool)
                              or not 0.0 < top_p <= 1.0):
        raise ValueError(f"top-p must lie in (0, 1], got {top_p!r}")
    if not isinstance(repetition_penalty, numbers.Real) or isinstance(repetition_penalty, bool) \
            or not 0 < repetition_penalty < float("inf"):
        raise ValueError(f"repetition penalty must be a finite number > 0 (1 = none), got "
                         f"{repetition_penalty!r}")


# below this, float32 rounds a number to 0: half its smallest subnormal, 2**-150
_FLOAT32_ZERO = 2.0 ** -150


def greedy(temperature: float) -> bool:
    """Whether ``temperature`` samples greedily: 0, or so small that float32 reads it as 0
    (below about 7e-46), where dividing by it would give NaN."""
    return temperature <= _FLOAT32_ZERO  # a number compared, not a tensor made: once a token


def scaled(logits: Tensor, temperature) -> Tensor:
    """``logits / temperature`` (a float, or one per row as a (B, 1) tensor). Where that
    overflows (a temperature near float32's smallest, ~1e-38), ``(logits - max) / temperature``
    instead: the top token at 0, the others at -inf or far below (the greedy limit, never the
    NaN that inf / inf gives softmax). Other rows: the plain division, bit for bit."""
    x = logits / temperature
    over = torch.isposinf(x).any(-1, keepdim=True)  # per row: the others stay as they were
    if bool(over.any()):
        x = torch.where(over, (logits - logits.amax(-1, keepdim=True)) / temperature, x)
    return x


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, repetition_penalty: float = 1.0,
                context: Tensor | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """Draw one token per row from ``logits`` (B, V); returns (B,) long.

    ``context`` (B, n) long holds the tokens the repetition penalty applies to.
    """
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    logits = logits.detach().float()
    if repetition_penalty != 1.0 and context is not None and context.numel():
        seen = logits.gather(1, context)
        seen = torch.where(seen > 0, seen / repetition_penalty, seen * repetition_penalty)
        logits = logits.scatter(1, context, seen)
    if greedy(temperature):
        return logits.argmax(-1)
    logits = scaled(logits, temperature)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the ones before it already reach top_p (the first always stays)
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p
        drop_sorted[:, 0] = False  # also where top_p is below float32's smallest (it reads 0)
        drop = drop_sorted.scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def suppressed(logits: Tensor, ids: Sequence[int]) -> Tensor:
    """``logits`` (..., V) with the tokens ``ids`` at -inf (never drawn, never in a beam)."""
    if not len(ids):
        return logits
    index = torch.as_tensor(list(ids), dtype=torch.long, device=logits.device)
    return logits.index_fill(-1, index, float("-inf"))


def _as_prompt(prompt, device, model=None) -> Tensor:
    raw = torch.as_tensor(prompt)
    if raw.numel() and (raw.is_floating_point() or raw.is_complex() or raw.dtype == torch.bool):
        raise ValueError(f"generate: the prompt must hold integer token ids, got {raw.dtype}")
    ids = raw.to(dtype=torch.long, device=device)  # 4.7 was read as 4
    if ids.dim() != 1 or ids.numel() == 0:
        raise ValueError(f"generate: expected a non-empty prompt of token ids, got shape "
                         f"{tuple(ids.shape)}")
    config = getattr(model, "config", None)
    V = config.get("vocab_size") if isinstance(config, dict) else None
    if isinstance(V, int) and bool(((ids < 0) | (ids >= V)).any()):  # was torch's IndexError
        bad = int(ids[(ids < 0) | (ids >= V)][0])
        raise ValueError(f"generate: token id {bad} is outside the model's vocabulary "
                         f"(ids 0..{V - 1})")
    return ids





def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def stream(model: nn.Module, prompt: Sequence[int] | Tensor, max_new_tokens: int = 100, *,
           temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           repetition_penalty: float = 1.0, eos_id: int | None = None,
           seed: int | None = None, generator: torch.Generator | None = None,
           state=None, suppress_ids: Sequence[int] = ()) -> Iterator[int]:
    """Yield new token ids one by one, continuing ``prompt`` (a non-empty list of ids).

    Stops after ``max_new_tokens`` or after yielding ``eos_id``. The model runs in eval mode
    (restored afterwards) and is called lazily: a token is computed only when asked for.
    ``seed`` (or an explicit ``generator``) makes the draws reproducible; ``state`` is the
    state before the prompt (default zeros). ``suppress_ids`` are never drawn (e.g. the
    ``<pad>``/``<bos>`` ids, which are no text).
    """
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max tokens must be a non-negative integer, got {max_new_tokens!r}")
    device = _device_of(model)
    ids = _as_prompt(prompt, device, model)
    check_seed(seed)
    if generator is None and seed is not None:  # else: torch's global generator
        generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        if max_new_tokens == 0:
            return
        logits, state = model(ids.unsqueeze(0), state)  # one call on the whole prompt
        context = ids.unsqueeze(0) if repetition_penalty != 1.0 else None
        for n in range(max_new_tokens):
            token = sample_next(suppressed(logits[:, -1], suppress_ids), temperature, top_k,
                                top_p, repetition_penalty, context, generator)  # (1,)
            yield int(token)
            if (eos_id is not None and int(token) == eos_id) or n == max_new_tokens - 1:
                return
            if context is not None:
                context = torch.cat([context, token.unsqueeze(0)], 1)
            logits, state = model(token.unsqueeze(0), state)  # (1, 1): one new token
    finally:
        model.train(was_training)


def generate(model: nn.Module, prompt: Sequence[int] | Tensor, max_new_tokens: int = 100,
             **kwargs) -> list[int]:
    """The new token ids after ``prompt``, as a list; see ``stream`` for the options.

    Example:
        >>> lm = rnnkit.LanguageModel(vocab_size=10, hidden_size=16)
        >>> out = generate(lm, [4, 5, 6], max_new_tokens=5, temperature=0.8, top_k=3, seed=0)
        >>> len(out), out == generate(lm, [4, 5, 6], 5, temperature=0.8, top_k=3, seed=0)
        (5, True)
    """
    return list(stream(model, prompt, max_new_tokens, **kwargs))


# ------------------------------------------------------------------------------- beam search
def reorder_state(state, index: Tensor, batch_dim: int = 1):
    """``index_select(batch_dim, index)`` on every tensor of a (nested) state; None stays."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(batch_dim, index)
    if isinstance(state, dict):
        return {k: reorder_state(v, index, batch_dim) for k, v in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(reorder_state(s, index, batch_dim) for s in state)
    raise ValueError(f"beam_search: cannot reorder a state of type {type(state).__name__}; "
                     "pass reorder_state=")


def lm_step(model: nn.Module, suppress_ids: Sequence[int] = ()) -> Callable:
    """A language model as a beam-search step: ``(tokens (K,), state) -> (log_probs, state)``;
    ``suppress_ids`` get log-probability -inf."""
    def step(tokens: Tensor, state):
        logits, state = model(tokens.unsqueeze(1), state)  # (K, 1, V)
        return suppressed(logits[:, -1].float(), suppress_ids).log_softmax(-1), state
    return step


@dataclass
class Hypothesis:
    """A finished beam: the generated ids (``<eos>`` excluded), their total log-probability
    and the length-normalised score it was ranked by."""

    tokens: list[int]
    log_prob: float
    score: float


@torch.no_grad()
def beam_search(step: Callable, state, start_token: int, *, beam_width: int = 5,
                max_len: int = 100, eos_id: int | None = None, length_penalty: float = 1.0,
                reorder: Callable | None = None, batch_dim: int = 1,
                device: torch.device | str | None = None) -> list[Hypothesis]:
    """Beam search over a step function; returns up to ``beam_width`` hypotheses, best first.

    ``batch_beam_search`` for one sequence (one implementation serves both).

    Args:
        step: ``(tokens (K,) long, state) -> (log_probs (K, V), state)``; see the module doc.
        state: the state before ``start_token``, batch of one (or None).
        start_token: the token fed first (``<bos>``, or a prompt's last token).
        beam_width: K, hypotheses kept per step.
        max_len: new tokens at most per hypothesis; one per sequence, or one for all.
        eos_id: the token that ends a hypothesis (None: all run to ``max_len``).
        length_penalty: rank by ``log p / length ** length_penalty``.
        reorder: ``reorder(state, index) -> state``; default ``reorder_state`` on ``batch_dim``.
    """
    return batch_beam_search(step, state, [start_token], beam_width=beam_width,
                             max_len=max_len, eos_id=eos_id, length_penalty=length_penalty,
                             reorder=reorder, batch_dim=batch_dim, device=device)[0]


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
                      beam_width: int = 5, max_len: int | Sequence[int] = 100,
                      eos_id: int | None = None,
                      length_penalty: float = 1.0, n_best: int | None = None,
                      reorder: Callable | None = None, batch_dim: int = 1,
                      device: torch.device | str | None = None) -> list[list[Hypothesis]]:
    """Beam search for B sequences at once; returns, per sequence, its best hypotheses.

    Args:
        step: ``(tokens (R,) long, state) -> (log_probs (R, V), state)``.
        state: the state before the start tokens, batch of B (row b: sequence b).
        start_tokens: (B,) the first token of each sequence (``<bos>``).
        beam_width: K, hypotheses kept per sequence and step.
        max_len: new tokens at most per hypothesis; one per sequence, or one for all.
        eos_id: the token that ends a hypothesis (None: all run to ``max_len``).
        length_penalty: rank by ``log p / length ** length_penalty``.
        n_best: hypotheses returned per sequence (default: ``beam_width``), best first.
        reorder: ``reorder(state, index) -> state`` selecting rows; default
            ``rnnkit.generate.reorder_state`` along ``batch_dim``.
        device: where the token tensors fed to ``step`` live (the model's device).
    """
    K = beam_width
    n_best = K if n_best is None else n_best
    limits = _limits(max_len, len(start_tokens))
    for limit in limits:
        _check_search(beam_width, limit, n_best)
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
        # log p / length ** penalty through exp(-penalty * log length), capped: a penalty of
        # ±300 overflowed Python's float power (OverflowError, ZeroDivisionError)
        return log_prob * math.exp(min(-length_penalty * math.log(length), 700.0))

    for t in range(1, max(limits) + 1):
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
            done = t == limits[b] or not seqs[b]
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


def _limits(max_len, B: int) -> list[int]:
    """One length limit per sequence: ``max_len`` for all, or its own per sequence (a
    sentence's translation must not depend on the others decoded with it)."""
    if isinstance(max_len, (list, tuple)):
        if len(max_len) != B:
            raise ValueError(f"max length: expected one per sequence ({B}), got {len(max_len)}")
        return list(max_len)
    return [max_len] * B


@torch.no_grad()
def beam_generate(model: nn.Module, prompt: Sequence[int] | Tensor, max_new_tokens: int = 100,
                  *, beam_width: int = 5, eos_id: int | None = None,
                  length_penalty: float = 1.0, suppress_ids: Sequence[int] = ()) -> list[int]:
    """The best beam's new token ids after ``prompt`` (``<eos>`` excluded).

    The prompt but its last token is read in one call; the search starts from the last token.
    ``suppress_ids`` are never chosen.
    """
    device = _device_of(model)
    ids = _as_prompt(prompt, device, model)
    with evaluating(model):
        state = None
        if len(ids) > 1:
            _, state = model(ids[:-1].unsqueeze(0), None)
        best = beam_search(lm_step(model, suppress_ids), state, int(ids[-1]),
                           beam_width=beam_width,
                           max_len=max_new_tokens, eos_id=eos_id, length_penalty=length_penalty,
                           device=device)[0]
    return best.tokens
