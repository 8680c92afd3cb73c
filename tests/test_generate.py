"""Sampling and beam search: reproducibility, greedy limits, filters, call counts, oracles."""

import itertools

import pytest
import torch
from torch import nn

from rnnkit.generate import (
    beam_generate,
    beam_search,
    generate,
    lm_step,
    reorder_state,
    sample_next,
    stream,
)
from rnnkit.models.language_model import LanguageModel

V = 12


@pytest.fixture
def lm():
    torch.manual_seed(1)
    return LanguageModel(vocab_size=V, hidden_size=16, num_layers=2, cell="gru")


class Counting(nn.Module):
    """Wraps a model and records the shape of every call's tokens and its logits."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls, self.logits = model, [], []

    def forward(self, tokens, state=None):
        self.calls.append(tuple(tokens.shape))
        logits, state = self.model(tokens, state)
        self.logits.append(logits[:, -1])
        return logits, state


def greedy_by_refeeding(model, prompt, n):
    """Oracle: re-read the whole context every step (no state carried), take the argmax."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    return ids[len(prompt):]


def test_greedy_carrying_state_equals_refeeding_the_context(lm):
    assert generate(lm, [4, 5, 6], 15, temperature=0) == greedy_by_refeeding(lm, [4, 5, 6], 15)


def test_fixed_seed_is_reproducible(lm):
    a = generate(lm, [4, 5], 40, temperature=1.0, seed=123)
    b = generate(lm, [4, 5], 40, temperature=1.0, seed=123)
    c = generate(lm, [4, 5], 40, temperature=1.0, seed=124)
    assert a == b and a != c
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert generate(lm, [4], 20, generator=g1) == generate(lm, [4], 20, generator=g2)


def test_temperature_to_zero_equals_greedy(lm):
    greedy = generate(lm, [4, 5, 6], 30, temperature=0)
    assert generate(lm, [4, 5, 6], 30, temperature=1e-4, seed=0) == greedy
    assert generate(lm, [4, 5, 6], 30, temperature=1e-4, seed=99) == greedy


def test_model_calls_one_on_the_prompt_then_single_tokens(lm):
    counting = Counting(lm)
    out = generate(counting, [4, 5, 6, 7, 8], 10, temperature=0.8, seed=0)
    assert len(out) == 10
    assert counting.calls == [(1, 5)] + [(1, 1)] * 9  # P tokens once, then N - 1 single tokens
    counting.calls.clear()
    tokens = stream(counting, [4, 5], 100, seed=0)
    first_three = list(itertools.islice(tokens, 3))  # a lazy iterator: only what is asked for
    assert len(first_three) == 3 and counting.calls == [(1, 2), (1, 1), (1, 1)]


def test_top_k_never_emits_a_token_outside_the_k_best(lm):
    counting = Counting(lm)
    out = generate(counting, [4], 200, temperature=2.0, top_k=3, seed=0)
    for token, logits in zip(out, counting.logits, strict=True):
        assert token in logits[0].topk(3).indices.tolist()
    assert len(set(out)) > 3  # the k best change from step to step
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]]).repeat(500, 1)
    g = torch.Generator().manual_seed(0)
    draws = sample_next(logits, temperature=5.0, top_k=2, generator=g)
    assert set(draws.tolist()) == {1, 3}


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log().repeat(2000, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, top_p=0.7, generator=g).tolist()) == {0, 1}
    assert set(sample_next(logits, top_p=0.8, generator=g).tolist()) == {0, 1}
    assert set(sample_next(logits, top_p=0.81, generator=g).tolist()) == {0, 1, 2}
    assert set(sample_next(logits, top_p=0.1, generator=g).tolist()) == {0}
    assert set(sample_next(logits, top_p=1.0, generator=g).tolist()) == {0, 1, 2, 3}


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, 1.5, -0.5, -0.6]])
    assert sample_next(logits, temperature=0).item() == 0
    # 2.0 / 2 = 1.0 < 1.5: the seen token loses first place
    seen = torch.tensor([[0]])
    assert sample_next(logits, temperature=0, repetition_penalty=2.0, context=seen).item() == 1
    # -0.5 * 2 = -1.0 < -0.6
    negative = torch.tensor([[-0.5, -0.6]])
    assert sample_next(negative, temperature=0, repetition_penalty=2.0,
                       context=seen).item() == 1
    # a penalty below 1 favours repeating
    assert sample_next(logits, temperature=0, repetition_penalty=0.5,
                       context=torch.tensor([[1]])).item() == 1


def test_stops_at_eos_and_at_max_tokens(lm):
    greedy = generate(lm, [4], 50, temperature=0)
    eos = greedy[4]
    out = generate(lm, [4], 50, temperature=0, eos_id=eos)
    assert out == greedy[: greedy.index(eos) + 1] and out[-1] == eos
    assert generate(lm, [4], 0) == []
    assert len(generate(lm, [4], 7, seed=0)) == 7


def test_generation_restores_training_mode(lm):
    lm.train()
    generate(lm, [4], 3, seed=0)
    assert lm.training


def test_beam_width_one_equals_greedy(lm):
    greedy = generate(lm, [4, 5, 6], 20, temperature=0)
    assert beam_generate(lm, [4, 5, 6], 20, beam_width=1) == greedy
    k = next(i for i, t in enumerate(greedy) if i > 0 and t not in greedy[:i])
    eos = greedy[k]  # pretend a token greedy emits later is <eos>: both stop there
    assert generate(lm, [4, 5, 6], 20, temperature=0, eos_id=eos) == greedy[:k + 1]
    assert beam_generate(lm, [4, 5, 6], 20, beam_width=1, eos_id=eos) == greedy[:k]


def test_beam_search_finds_the_exhaustive_best(lm):
    # wide enough to keep every sequence of 3 tokens: must find the most probable one
    step = lm_step(lm.eval())
    with torch.no_grad():
        _, state = lm(torch.tensor([[4, 5]]))
        # every context [6, a, b] at once: log p(a) + log p(b | a) + log p(c | a, b)
        pairs = torch.tensor(list(itertools.product(range(V), repeat=2)))  # (V*V, 2)
        ctx = torch.cat([torch.full((V * V, 1), 6), pairs], 1)
        wide = state.expand(-1, V * V, -1).contiguous()  # the GRU state, (L, V*V, H)
        lp = lm(ctx, wide)[0].log_softmax(-1)  # (V*V, 3, V)
        total = (lp[:, 0].gather(1, pairs[:, :1]) + lp[:, 1].gather(1, pairs[:, 1:])
                 + lp[:, 2])  # (V*V, V)
        best_lp, flat = total.flatten().max(0)
        best = [*pairs[flat // V].tolist(), int(flat % V)]
        best_lp = best_lp.item()
    hyps = beam_search(step, state, 6, beam_width=V * V, max_len=3, length_penalty=0.0)
    assert hyps[0].tokens == best and hyps[0].log_prob == pytest.approx(best_lp, abs=1e-5)
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    # a narrower beam is never better than the exhaustive one
    narrow = beam_search(step, state, 6, beam_width=3, max_len=3, length_penalty=0.0)
    assert narrow[0].log_prob <= best_lp + 1e-6 and len(narrow) == 3


def test_beam_search_with_a_seq2seq_style_state_and_length_penalty():
    """A hand-made step over a dict state batched along dim 0, reordered by the caller's hook.

    From any token, log p(eos) = log 0.4 and log p(a) = log 0.6 (then 'a' repeats). With no
    length normalisation the short answer [eos] wins; a strong length penalty prefers 'a a ..'.
    """
    eos, a = 0, 1
    calls = []

    def step(tokens, state):
        calls.append(state["memory"].shape[0])
        lp = torch.log(torch.tensor([[0.4, 0.6]])).repeat(len(tokens), 1)
        return lp, {"memory": state["memory"] + 1}

    def reorder(state, index):
        return {"memory": state["memory"].index_select(0, index)}

    state = {"memory": torch.zeros(1, 3)}
    short = beam_search(step, state, 5, beam_width=2, max_len=4, eos_id=eos,
                        length_penalty=0.0, reorder=reorder)
    assert short[0].tokens == []
    assert short[0].log_prob == pytest.approx(torch.tensor(0.4).log().item())
    assert len(calls) == 3  # stopped early: no live beam can beat the two finished ones
    calls.clear()
    long = beam_search(step, state, 5, beam_width=2, max_len=4, eos_id=eos,
                       length_penalty=3.0, reorder=reorder)
    assert long[0].tokens == [a, a, a, a]
    assert calls == [1, 1, 1, 1]  # one call per step; <eos> takes the second beam's place


def test_reorder_state_walks_nested_states():
    h, c = torch.arange(6.0).view(1, 3, 2), torch.arange(6.0).view(1, 3, 2) + 10
    out = reorder_state((h, c), torch.tensor([2, 2, 0]))
    assert out[0][0, :, 0].tolist() == [4.0, 4.0, 0.0] and out[1][0, :, 0].tolist() == [14.0,
                                                                                         14.0,
                                                                                         10.0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=-0.5), r"^temperature must be a finite number >= 0 \(0 = greedy\), got "
                             r"-0.5$"),
    (dict(temperature=float("inf")), r"^temperature must be a finite number >= 0 .*got inf$"),
    (dict(repetition_penalty=float("inf")), r"^repetition penalty must be a finite number > 0 .*got inf$"),
    (dict(top_p=0.0), r"^top-p must lie in \(0, 1\], got 0.0$"),
    (dict(top_p=1.5), r"^top-p must lie in \(0, 1\], got 1.5$"),
    (dict(top_k=0), r"^top-k must be an integer >= 1, got 0$"),
    (dict(repetition_penalty=0.0), r"^repetition penalty must be a finite number > 0 \(1 = none\), got 0.0$"),
])
def test_bad_sampling_settings_raise_before_any_model_call(lm, kwargs, message):
    counting = Counting(lm)
    with pytest.raises(ValueError, match=message):
        generate(counting, [4], 5, **kwargs)
    assert counting.calls == []


def test_bad_prompt_and_width():
    lm = LanguageModel(vocab_size=V, hidden_size=4)
    with pytest.raises(ValueError, match=r"^generate: expected a non-empty prompt of token ids, "
                                         r"got shape \(0,\)$"):
        generate(lm, [], 5)
    with pytest.raises(ValueError, match=r"^beam width must be an integer >= 1, got 0$"):
        beam_generate(lm, [4], 5, beam_width=0)
