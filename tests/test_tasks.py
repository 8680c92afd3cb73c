"""Generated tasks: documented statistics, seeding, shapes, errors."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.tasks import (
    COPY_BLANK,
    COPY_DELIMITER,
    TaskStream,
    adding_baseline_mse,
    adding_problem,
    copy_baseline_ce,
    copy_task,
    get_task,
)


def test_adding_problem_baseline_and_structure():
    T = 100
    x, y = adding_problem(10_000, T, seed=0)
    assert x.shape == (10_000, T, 2) and y.shape == (10_000, 1) and x.dtype == torch.float32
    markers = x[..., 1]
    assert bool((markers.sum(1) == 2).all())
    assert bool((markers[:, : T // 2].sum(1) == 1).all())  # one marker in each half
    assert torch.allclose(y[:, 0], (x[..., 0] * markers).sum(1))
    values = x[..., 0]
    assert 0 <= values.min() and values.max() < 1
    mse = F.mse_loss(torch.ones_like(y), y).item()  # always predict 1
    # the variance of U1 + U2 is 1/6 = 0.1667. Le et al. (2015) quote 0.1767, which lies
    # exactly 0.01 above it: a "0.1767 ± 0.01" check would pass or fail on sampling noise
    assert mse == pytest.approx(adding_baseline_mse(), abs=0.005)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)


def test_adding_problem_seeded():
    a, b, c = (adding_problem(5, 20, seed=s) for s in (3, 3, 4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_copy_task_statistics():
    T, N = 30, 4000
    x, y = copy_task(N, T, seed=0)
    assert x.shape == (N, T + 20, 10) and y.shape == (N, T + 20) and y.dtype == torch.long
    tokens = x.argmax(-1)
    assert bool((x.sum(-1) == 1).all())  # one-hot
    symbols = tokens[:, :10]
    assert bool(((symbols >= 1) & (symbols <= 8)).all())
    counts = torch.bincount(symbols.flatten(), minlength=9)[1:].double() / symbols.numel()
    assert torch.allclose(counts, torch.full((8,), 1 / 8, dtype=torch.double), atol=0.01)
    assert bool((tokens[:, 10 : T + 9] == COPY_BLANK).all())
    assert bool((tokens[:, T + 9] == COPY_DELIMITER).all())
    assert bool((tokens[:, T + 10 :] == COPY_BLANK).all())
    assert bool((y[:, : T + 10] == COPY_BLANK).all()) and torch.equal(y[:, T + 10 :], symbols)
    # the memoryless strategy: blank with certainty, then uniform over the 8 symbols
    logits = torch.full((N, T + 20, 10), -1e9)
    logits[:, : T + 10, COPY_BLANK] = 0.0
    logits[:, T + 10 :, 1:9] = 0.0
    ce = F.cross_entropy(logits.reshape(-1, 10), y.reshape(-1)).item()
    assert ce == pytest.approx(copy_baseline_ce(T), rel=1e-6)
    assert copy_baseline_ce(T) == pytest.approx(10 * math.log(8) / (T + 20))


def test_task_stream_fresh_seeded_batches():
    stream = TaskStream("copy", length=5, batch_size=4, batches=3, seed=1)
    first = [x for x, _ in stream]
    second = [x for x, _ in stream]
    assert len(first) == len(stream) == 3 and first[0].shape == (4, 25, 10)
    assert not torch.equal(first[0], second[0])  # a new epoch, new data
    again = [x for x, _ in TaskStream("copy", length=5, batch_size=4, batches=3, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_task_registry():
    assert get_task("adding").loss == "mse" and get_task("copy").per_step
    assert get_task("adding").baseline(50) == pytest.approx(1 / 6)


def test_errors():
    with pytest.raises(ValueError, match=r"unknown task 'sort'; expected one of adding, copy"):
        get_task("sort")
    with pytest.raises(ValueError, match=r"adding_problem: length must be an integer >= 2, got 1"):
        adding_problem(3, 1)
    with pytest.raises(ValueError, match=r"copy_task: num_samples must be a positive integer"):
        copy_task(0, 10)
    with pytest.raises(ValueError, match=r"TaskStream: batch_size must be a positive integer"):
        TaskStream("adding", 10, batch_size=0)
