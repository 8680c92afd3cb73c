"""Synthetic long-dependency tasks, generated on the fly from a seed.

- The adding problem (Hochreiter & Schmidhuber 1997; the form of Le, Jaitly & Hinton, "A simple
  way to initialize recurrent networks of rectified linear units", 2015): each step carries a
  value ~ U[0, 1] and a marker; exactly two steps are marked, one in each half of the sequence,
  and the target is the sum of the two marked values. A model that ignores its input and always
  predicts 1 (the target's mean) scores MSE = Var(U1 + U2) = 2/12 = 1/6 ≈ 0.1667. Le et al.
  quote 0.1767 for this baseline; the variance of a sum of two U[0, 1] is 1/6, and that is what
  `adding_baseline_mse` returns and the tests measure.
- The copy task (Hochreiter & Schmidhuber 1997; the form of Arjovsky, Shah & Bengio, "Unitary
  evolution recurrent neural networks", 2016): 10 symbols from 8 categories, then T − 1 blanks,
  a delimiter and 10 more blanks; the model must output blanks for T + 10 steps and then the 10
  symbols. A memoryless model (blanks, then a uniform guess over the 8 symbols) scores a
  cross-entropy of 10·log 8 / (T + 20) per step.

Each call with the same seed returns the same data; ``TaskStream`` hands `rnnkit.fit` (or any
loop) a fresh, seeded set of batches every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import IterableDataset

__all__ = [
    "TASKS",
    "Task",
    "TaskStream",
    "adding_problem",
    "adding_baseline_mse",
    "copy_task",
    "copy_baseline_ce",
    "get_task",
    "COPY_BLANK",
    "COPY_DELIMITER",
    "COPY_VOCAB",
]

COPY_SYMBOLS = 10  # symbols to remember
COPY_CATEGORIES = 8  # symbols are drawn from tokens 1..8
COPY_BLANK = 0
COPY_DELIMITER = 9
COPY_VOCAB = 10  # blank, 8 symbols, delimiter


def _check_length(name: str, length) -> int:
    if not isinstance(length, int) or isinstance(length, bool) or length < 2:
        raise ValueError(f"{name}: length must be an integer >= 2, got {length!r}")
    return length


def _check_count(name: str, num_samples) -> int:
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ValueError(f"{name}: num_samples must be a positive integer, got {num_samples!r}")
    return num_samples


def adding_problem(num_samples: int, length: int, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The adding problem: inputs (N, T, 2) = (value, marker), targets (N, 1).

        x[n, t] = (u_{n,t}, m_{n,t}),  u ~ U[0, 1],  m = 1 at one step in [0, T/2) and one in
        [T/2, T), 0 elsewhere;  y[n] = Σ_t u_{n,t} m_{n,t}

    Args:
        num_samples: N.
        length: T >= 2 (the distance the model must carry the first marked value).
        seed: the same seed gives the same data.

    Example:
        >>> x, y = adding_problem(4, 50, seed=0)
        >>> x.shape, y.shape, x[..., 1].sum(1).tolist()
        (torch.Size([4, 50, 2]), torch.Size([4, 1]), [2.0, 2.0, 2.0, 2.0])
    """
    N, T = _check_count("adding_problem", num_samples), _check_length("adding_problem", length)
    g = torch.Generator().manual_seed(int(seed))
    values = torch.rand(N, T, generator=g, dtype=torch.float64)
    half = T // 2
    first = torch.randint(0, half, (N,), generator=g)
    second = torch.randint(half, T, (N,), generator=g)
    markers = torch.zeros(N, T, dtype=torch.float64)
    rows = torch.arange(N)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (N, T, 2)
    y = (values * markers).sum(1, keepdim=True)  # (N, 1)
    return x.to(dtype), y.to(dtype)


def adding_baseline_mse() -> float:
    """MSE of always predicting 1 on the adding problem: Var(U1 + U2) = 1/6."""
    return 1.0 / 6.0


def copy_task(num_samples: int, length: int, seed: int = 0,
              dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """The copy task: one-hot inputs (N, T+20, 10), integer targets (N, T+20).

    Tokens: 0 blank, 1..8 symbols, 9 delimiter. Input: 10 random symbols, T − 1 blanks, the
    delimiter, 10 blanks. Target: T + 10 blanks, then the 10 symbols.

    Args:
        num_samples: N.
        length: T >= 2, the delay between seeing the symbols and the delimiter.
        seed: the same seed gives the same data.

    Example:
        >>> x, y = copy_task(2, 5, seed=0)
        >>> x.shape, y.shape, bool((x.argmax(-1)[:, :10] == y[:, -10:]).all())
        (torch.Size([2, 25, 10]), torch.Size([2, 25]), True)
    """
    N, T = _check_count("copy_task", num_samples), _check_length("copy_task", length)
    g = torch.Generator().manual_seed(int(seed))
    symbols = torch.randint(1, COPY_CATEGORIES + 1, (N, COPY_SYMBOLS), generator=g)
    tokens = torch.full((N, T + 2 * COPY_SYMBOLS), COPY_BLANK, dtype=torch.long)
    tokens[:, :COPY_SYMBOLS] = symbols
    tokens[:, COPY_SYMBOLS + T - 1] = COPY_DELIMITER
    target = torch.full_like(tokens, COPY_BLANK)
    target[:, T + COPY_SYMBOLS:] = symbols
    x = torch.nn.functional.one_hot(tokens, COPY_VOCAB).to(dtype)  # (N, T+20, 10)
    return x, target


def copy_baseline_ce(length: int) -> float:
    """Per-step cross-entropy of the memoryless strategy: 10·log 8 / (T + 20)."""
    T = _check_length("copy_baseline_ce", length)
    return COPY_SYMBOLS * math.log(COPY_CATEGORIES) / (T + 2 * COPY_SYMBOLS)


@dataclass(frozen=True)
class Task:
    """What a model needs to know about a generated task."""

    name: str
    input_size: int  # features per step
    output_size: int  # regression outputs, or classes per step
    loss: str  # "mse" | "cross_entropy" (the fit contract's names)
    per_step: bool  # a prediction at every step (copy) or one at the end (adding)
    solved_below: float  # a test loss under this counts as solved

    def generate(self, num_samples: int, length: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """(inputs, targets) for ``num_samples`` sequences of this task."""
        fn = adding_problem if self.name == "adding" else copy_task
        return fn(num_samples, length, seed=seed)

    def baseline(self, length: int) -> float:
        """The loss of the input-ignoring strategy the literature reports."""
        return adding_baseline_mse() if self.name == "adding" else copy_baseline_ce(length)


TASKS = {
    "adding": Task("adding", input_size=2, output_size=1, loss="mse", per_step=False,
                   solved_below=0.01),
    "copy": Task("copy", input_size=COPY_VOCAB, output_size=COPY_VOCAB, loss="cross_entropy",
                 per_step=True, solved_below=0.01),
}


def get_task(name: str) -> Task:
    """The task called ``name``; a clear error lists the known ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name]


class TaskStream(IterableDataset):
    """Fresh batches of a generated task every epoch, seeded: yields ``(inputs, targets)``.

    Pass it to ``torch.utils.data.DataLoader(stream, batch_size=None)`` (or iterate it
    directly): epoch ``e`` draws ``batches`` batches from seed ``(seed, e)``, so a run is
    reproducible and never sees the same sequence twice.

    Example:
        >>> stream = TaskStream("adding", length=20, batch_size=8, batches=3, seed=0)
        >>> [tuple(x.shape) for x, _ in stream]
        [(8, 20, 2), (8, 20, 2), (8, 20, 2)]
    """

    def __init__(self, task: str, length: int, batch_size: int = 50, batches: int = 100,
                 seed: int = 0):
        super().__init__()
        self.task = get_task(task)
        self.length = _check_length("TaskStream", length)
        for arg, value in (("batch_size", batch_size), ("batches", batches)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TaskStream: {arg} must be a positive integer, got {value!r}")
        self.batch_size, self.batches, self.seed = batch_size, batches, int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch_seed = (self.seed * 1_000_003 + self.epoch * 7_919 + 1) % 2**62
        self.epoch += 1
        x, y = self.task.generate(self.batch_size * self.batches, self.length, seed=epoch_seed)
        yield from zip(x.split(self.batch_size), y.split(self.batch_size), strict=True)
