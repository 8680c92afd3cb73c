"""A user-written cell: the compiled path (``RNN(cell, backend="compiled")``) against a naive loop.

Forward + backward of one layer (I = H), interleaved rounds, process CPU time, median and
best (``benchmarks/ln_cells.py``'s method). The cell is written by a user on rnnkit's base
class (``--cell peephole``: an LSTM with peepholes; ``--cell ln_lstm``: the LayerNorm-LSTM
written out in torch ops, as a user would, not rnnkit's built-in kind). The ways:
- naive loop: ``for x_t in x.unbind(1): y, state = cell(x_t, state)`` (input projection and
  all, once per step: what a user writes);
- rnnkit loop: ``RNN(cell, backend="loop")`` (all steps' input projections in one matmul,
  then ``cell.recur`` per step);
- compiled: ``RNN(cell, backend="compiled")`` (``rnnkit.compiled.traced``: one step traced
  and compiled by Inductor, its forward and backward graphs called T times by one autograd
  Function);
- compiled step: ``torch.compile(cell.recur)`` called per step (autograd through it);
- torch scan: ``torch._higher_order_ops.scan`` over ``cell.recur`` under ``torch.compile``
  (the body compiled once, lowered to a while loop), after the one input matmul;
- matmuls alone: the five matrix products every way must do (``ln_cells.matmuls_alone``).
The first call of a compiling way is timed separately (wall, and CPU of this process and
its finished children: Inductor's C++ compiler runs as a child): "cold" with an empty
``$TORCHINDUCTOR_CACHE_DIR``, "warm" when a previous process filled it.

    OMP_NUM_THREADS=1 TORCHINDUCTOR_COMPILE_THREADS=1 python benchmarks/user_cell.py
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.cells import RecurrentCell

sys.path.insert(0, str(Path(__file__).parent))
from ln_cells import CLOCKS, matmuls_alone, naive_loop, parse_ways, print_race, race, train_step  # noqa: E402


class PeepholeLSTMCell(RecurrentCell):
    """LSTM with peepholes (Gers & Schmidhuber 2000): the gates also read c.

        i = σ(a_i + p_i ⊙ c_{t-1}),  f = σ(a_f + p_f ⊙ c_{t-1}),  g = tanh(a_g)
        c_t = f ⊙ c_{t-1} + i ⊙ g,  o = σ(a_o + p_o ⊙ c_t),  h_t = o ⊙ tanh(c_t)
    with a = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh.
    """

    num_gates = 4

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.peep = nn.Parameter(torch.randn(3, hidden_size) * 0.1)

    def init_state(self, batch_size, device=None, dtype=None):
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h, h.clone()

    def recur(self, xp, state):
        h, c = state
        i, f, g, o = (xp + h @ self.weight_hh.t() + self.bias_hh).chunk(4, 1)  # (B, H) each
        i, f = torch.sigmoid(i + self.peep[0] * c), torch.sigmoid(f + self.peep[1] * c)
        c = f * c + i * torch.tanh(g)
        h = torch.sigmoid(o + self.peep[2] * c) * torch.tanh(c)
        return h, (h, c)


class UserLayerNormLSTMCell(RecurrentCell):
    """LayerNorm-LSTM (Ba et al. 2016) as a user writes it: LN of W_ih x and of W_hh h over
    all 4H units, each with its gain, and of c before its tanh."""

    num_gates = 4

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.gains = nn.Parameter(torch.ones(2, 4 * hidden_size))
        self.ln_c = nn.LayerNorm(hidden_size)

    def init_state(self, batch_size, device=None, dtype=None):
        h = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return h, h.clone()

    def project_input(self, x):
        a = F.linear(x, self.weight_ih)
        return F.layer_norm(a, a.shape[-1:], self.gains[0]) + self.bias_ih

    def recur(self, xp, state):
        h, c = state
        r = h @ self.weight_hh.t()
        a = xp + F.layer_norm(r, r.shape[-1:], self.gains[1]) + self.bias_hh
        i, f, g, o = a.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.ln_c(c))
        return h, (h, c)


CELLS = {"peephole": PeepholeLSTMCell, "ln_lstm": UserLayerNormLSTMCell}
WAYS = {"naive": "naive loop", "rnnkit": "rnnkit loop", "compiled": "compiled",
        "step": "compiled step", "scan": "torch scan", "matmuls": "matmuls alone"}


def cpu_seconds() -> float:
    """CPU of this process and of its children that have finished (the C++ compiler)."""
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def hoisted(module, cell, step, B):
    """All steps' input projections in one matmul, then ``step`` per time step."""
    def forward(x):
        state, outs = cell.init_state(B, dtype=x.dtype), []
        for xp in cell.project_input(x).unbind(1):
            y, state = step(xp, state)
            outs.append(y)
        return torch.stack(outs, 1)
    return forward


def scanned(cell, B):
    from torch._higher_order_ops.scan import scan

    def body(state, xp):  # scan's body may not return its inputs or one tensor twice
        y, new = cell.recur(xp, state)
        return tuple(s.clone() for s in new), y.clone()

    run = torch.compile(lambda xp, s0: scan(body, s0, xp, dim=1)[1], fullgraph=True)
    return lambda x: run(cell.project_input(x), cell.init_state(B, dtype=x.dtype))


def table(kind: str, B: int, T: int, H: int, rounds: int, ways: list[str],
          clock: str = "cpu") -> None:
    torch._dynamo.reset()  # a new shape: compile afresh, not with dynamic shapes
    torch.manual_seed(0)
    x = torch.randn(B, T, H)
    fast = rnnkit.RNN(CELLS[kind](H, H), backend="compiled")
    loop = rnnkit.RNN(CELLS[kind](H, H), backend="loop")
    loop.load_state_dict(fast.state_dict())
    cell = fast.cells[0]
    every = {"naive": lambda: train_step(fast, naive_loop(cell), x),
             "rnnkit": lambda: train_step(loop, lambda v: loop(v)[0], x),
             "compiled": lambda: train_step(fast, lambda v: fast(v)[0], x),
             "step": lambda: train_step(fast, hoisted(fast, cell, torch.compile(
                 cell.recur, fullgraph=True), B), x),
             "scan": lambda: train_step(fast, scanned(cell, B), x),
             "matmuls": lambda: matmuls_alone(cell.num_gates, B, T, H)}
    load = os.getloadavg()[0]
    contenders, first = {}, {}
    for w in ways:
        fn = every[w]()
        if w in ("compiled", "step", "scan"):
            wall, cpu = time.perf_counter(), cpu_seconds()
            fn()
            first[WAYS[w]] = (time.perf_counter() - wall, cpu_seconds() - cpu)
        contenders[WAYS[w]] = fn
    t = race(contenders, rounds, clock)
    print_race(f"{kind}, B {B}, T {T}, H {H}", rounds, load, t, first, clock)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--shape", default="32x100x128,32x100x256,64x100x128,64x100x256",
                        help="BxTxH (comma-separated list)")
    parser.add_argument("--cells", default="peephole", help=", ".join(CELLS))
    parser.add_argument("--clock", choices=CLOCKS, default="cpu",
                        help="cpu: process CPU time; wall: for 2+ threads on a quiet machine")
    parser.add_argument("--ways", default="naive,rnnkit,compiled,matmuls",
                        help="which of " + ", ".join(WAYS) + " (naive must be in: the baseline)")
    args = parser.parse_args()
    ways = parse_ways(parser, args.ways, WAYS)
    if any(c not in CELLS for c in args.cells.split(",")):
        parser.error(f"--cells: a comma-separated list of {', '.join(CELLS)}, got {args.cells!r}")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at start; "
          f"inductor cache {os.environ.get('TORCHINDUCTOR_CACHE_DIR', '(default)')}")
    for shape in args.shape.split(","):
        B, T, H = (int(v) for v in shape.split("x"))
        for kind in args.cells.split(","):
            table(kind, B, T, H, args.rounds, ways, args.clock)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
