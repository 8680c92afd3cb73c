"""LayerNorm-LSTM/GRU: the compiled kernels against a naive Python loop over the same cell.

Forward + backward of one layer (I = H), interleaved rounds, median. Three ways to run one
``LayerNormLSTMCell`` (and ``LayerNormGRUCell``) with the same weights:
- naive loop: ``for x_t in x.unbind(1): y, state = cell(x_t, state)`` (the cell's forward,
  input projection and all, once per step: what a user writes);
- rnnkit loop: ``RNN(..., backend="loop")``, the oracle (all steps' input projections and
  their norm in one op before the loop, then ``cell.recur`` per step);
- compiled: ``RNN(..., backend="compiled")`` (``csrc/layernorm.cpp``);
- matmuls alone: the five matrix products every way above must do (input projections,
  h W_hh^T per step, dh = d(acc) W_hh per step, the gradients of W_ih and W_hh), with nothing
  else: no way can run faster than this, so naive loop / matmuls is the largest ratio possible.
Ratios are the naive loop's time over each (above 1: faster). Process CPU time, median and
best of the rounds: on a shared machine wall time mostly measures the other processes, and
the best round is the one least disturbed by them.

    python -m rnnkit.compiled && OMP_NUM_THREADS=1 python benchmarks/ln_cells.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import rnnkit
from rnnkit import compiled


def naive_loop(cell):
    def forward(x):
        state, outs = None, []
        for x_t in x.unbind(1):
            y, state = cell(x_t, state)
            outs.append(y)
        return torch.stack(outs, 1)
    return forward


def train_step(module, forward, x):
    def run():
        module.zero_grad(set_to_none=True)
        forward(x).sum().backward()
    return run


# process CPU time (1 thread, shared machine) or wall time (2+ threads on a quiet machine:
# CPU time would count every thread's share, spinning OpenMP workers included)
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def race(contenders: dict, rounds: int, clock: str = "cpu") -> dict:
    """(median, best) seconds of each contender over interleaved rounds, one warm-up."""
    now = CLOCKS[clock]
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = now()
            fn()
            times[name].append(now() - start)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def matmuls_alone(G: int, B: int, T: int, H: int):
    """The matrix products of one forward+backward, I = H, fp32, as few large ones as can be,
    each on the faster way this machine has: the large ones on oneDNN where rnnkit's kernels
    are built (``rnnkit::mm_into``), the per-step ones on a weight reordered once for oneDNN
    (as ``csrc/step_matmul.h`` does) where torch has that."""
    from rnnkit import compiled

    x, w = torch.randn(B * T, H), torch.randn(G * H, H)
    h, d, acc, carry = torch.randn(B, H), torch.randn(B, G * H), torch.empty(B, G * H), \
        torch.empty(B, H)
    grads, big = torch.randn(B * T, G * H), torch.empty(G * H, H)
    kernels = compiled.available()
    try:
        forward = torch.ops.mkldnn._reorder_linear_weight(w, B)
        backward = torch.ops.mkldnn._reorder_linear_weight(w.t().contiguous(), B)
    except (AttributeError, RuntimeError):
        forward = backward = None

    def mm(out, a, b):
        if kernels:
            torch.ops.rnnkit.mm_into(out, a, b, 0.0)
        else:
            torch.mm(a, b, out=out)

    def run():
        mm(torch.empty(B * T, G * H), x, w.t())  # every step's input projection
        for _ in range(T):
            if forward is not None:
                torch.ops.mkldnn._linear_pointwise(h, forward, None, "none", [], "")
                torch.ops.mkldnn._linear_pointwise.binary(d, h, backward, None, "add")
            else:
                torch.mm(h, w.t(), out=acc)  # h_{t-1} W_hh^T
                torch.addmm(h, d, w, out=carry)  # dh_{t-1} = d(acc) W_hh + direct
        mm(big, grads.t(), x)  # d W_ih
        mm(big, grads.t(), x)  # d W_hh (over h_{t-1}, same shapes)
    return run


WAYS = {"naive": "naive loop", "rnnkit": "rnnkit loop", "compiled": "compiled",
        "matmuls": "matmuls alone"}


def table(kind: str, B: int, T: int, H: int, rounds: int, ways: list[str],
          clock: str = "cpu") -> None:
    torch.manual_seed(0)
    x = torch.randn(B, T, H)
    fast = rnnkit.RNN(kind, H, H, backend="compiled")
    loop = rnnkit.RNN(kind, H, H, backend="loop")
    loop.load_state_dict(fast.state_dict())
    cell = fast.cells[0]
    every = {"naive": lambda: train_step(fast, naive_loop(cell), x),
             "rnnkit": lambda: train_step(loop, lambda v: loop(v)[0], x),
             "compiled": lambda: train_step(fast, lambda v: fast(v)[0], x),
             "matmuls": lambda: matmuls_alone(cell.num_gates, B, T, H)}
    load = os.getloadavg()[0]
    t = race({WAYS[w]: every[w]() for w in ways}, rounds, clock)
    print_race(f"{kind}, B {B}, T {T}, H {H}", rounds, load, t, clock=clock)


def print_race(title: str, rounds: int, load: float, t: dict, first: dict | None = None,
               clock: str = "cpu"):
    """``race``'s times as a table against the naive loop; ``first``: way -> (wall s, CPU s)
    of its first call (a compile), as one more column."""
    print(f"\n### {title}, forward+backward, {torch.get_num_threads()} thread(s), {rounds} "
          f"rounds, load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    extra = (" first call: wall s, CPU s |", "---|") if first is not None else ("", "")
    unit = "CPU" if clock == "cpu" else "wall"
    print(f"| way | {unit} ms, median | best | vs naive loop (median) | vs naive loop (best) |"
          + extra[0])
    print("|---|---|---|---|---|" + extra[1])
    base_med, base_best = t["naive loop"]
    for name, (med, best) in t.items():
        cell = "" if first is None else (
            " {:.1f}, {:.1f} |".format(*first[name]) if name in first else "  |")
        print(f"| {name} | {med * 1e3:.0f} | {best * 1e3:.0f} | {base_med / med:.2f}x | "
              f"{base_best / best:.2f}x |{cell}", flush=True)


def parse_ways(parser, text: str, ways: dict) -> list[str]:
    """``--ways``: a comma-separated list of ``ways``' keys with naive in it, in their order."""
    chosen = text.split(",")
    if "naive" not in chosen or any(w not in ways for w in chosen):
        parser.error(f"--ways: a comma-separated list of {', '.join(ways)} with naive in it, "
                     f"got {text!r}")
    return sorted(chosen, key=list(ways).index)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--shape", default="32x100x256,32x100x128",
                        help="BxTxH (comma-separated list)")
    parser.add_argument("--kinds", default="ln_lstm,ln_gru")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu",
                        help="cpu: process CPU time; wall: for 2+ threads on a quiet machine")
    parser.add_argument("--ways", default="naive,rnnkit,compiled,matmuls",
                        help="which of " + ", ".join(WAYS) + " (the first is the baseline "
                        "of the ratios; naive must be in)")
    args = parser.parse_args()
    ways = parse_ways(parser, args.ways, WAYS)
    if not compiled.ensure():
        raise SystemExit("compiled kernels unavailable: nothing to compare")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at start")
    for shape in args.shape.split(","):
        B, T, H = (int(v) for v in shape.split("x"))
        for kind in args.kinds.split(","):
            table(kind, B, T, H, args.rounds, ways, args.clock)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
