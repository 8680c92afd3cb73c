"""Which LSTM backend ``auto`` should take on a CPU: torch's fused (oneDNN) kernel against
rnnkit's compiled kernels, in training (forward + backward) and in prediction (no_grad), side
by side in one process, and what ``auto`` picks. The rule in ``RNN._onednn_lstm_faster`` comes
from this table (BENCHMARKS.md, "The big matmuls through oneDNN; when auto takes torch's
LSTM").

Then two of the kernels' switches, each off and on per call in the same process: the big
float32 matmuls on oneDNN (csrc/big_matmul.h, ``RNNKIT_ONEDNN``) and the per-step products on
a weight reordered once per sequence (csrc/step_matmul.h, ``RNNKIT_PACKED``), against
``torch.mm`` (MKL); ``nn.GRU`` (never switched) shows the run's noise.

    make kernels && .venv/bin/python benchmarks/lstm_backends.py --threads 1,2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import rnnkit
from rnnkit import compiled


def _time(layer, x, grad: bool, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _step(layer, x, grad)
        best = min(best, time.perf_counter() - t0)
    return best


def _step(layer, x, grad: bool):
    if grad:
        layer(x)[0].sum().backward()
    else:
        with torch.no_grad():
            layer(x)


def backends_table(threads: int, grid, rounds: int) -> None:
    torch.set_num_threads(threads)
    print(f"\n### LSTM, {threads} thread(s): torch's fused kernel / rnnkit's kernels "
          "(ratio > 1: the kernels faster)")
    print("| mode | B | T | H | fused ms | compiled ms | ratio | auto takes |")
    print("|---|---|---|---|---|---|---|---|")
    for grad in (True, False):
        for B, T, H in grid:
            torch.manual_seed(0)
            fast = rnnkit.LSTM(H, H, backend="compiled")
            fused = rnnkit.LSTM(H, H, backend="fused")
            auto = rnnkit.LSTM(H, H)
            fused.load_state_dict(fast.state_dict())
            x = torch.randn(B, T, H, requires_grad=grad)
            for layer in (fast, fused):
                _step(layer, x, grad)
            times = {"fused": [], "compiled": []}
            for _ in range(rounds):
                times["compiled"].append(_time(fast, x, grad, 3))
                times["fused"].append(_time(fused, x, grad, 3))
            f, c = (min(times[k]) * 1e3 for k in ("fused", "compiled"))
            with torch.set_grad_enabled(grad):
                takes = "compiled" if auto._use_compiled(x) else "fused"
            mode = "training" if grad else "no_grad"
            print(f"| {mode} | {B} | {T} | {H} | {f:.1f} | {c:.1f} | {f / c:.2f}x | {takes} |",
                  flush=True)


SWITCHES = {  # --parts name -> (environment variable, what it switches, what "on" is)
    "onednn": ("RNNKIT_ONEDNN", "big float32 matmuls on oneDNN against torch.mm", "oneDNN"),
    "packed": ("RNNKIT_PACKED", "per-step products on a reordered weight (oneDNN) against "
               "torch.mm", "reordered"),
    "packed-all": ("RNNKIT_PACKED", "per-step products on a reordered weight at every size "
                   "(RNNKIT_PACKED=all) against torch.mm", "reordered"),
}
ON = {"packed-all": "all"}  # the switch's "on" value where it is not "1"


def switch_table(part: str, threads: int, grid, rounds: int) -> None:
    """One of the kernels' switches (``SWITCHES``) off and on per call, in one process."""
    var, what, on = SWITCHES[part]
    torch.set_num_threads(threads)
    print(f"\n### {what}, forward + backward, {threads} thread(s), median of {rounds} "
          f"(ratio > 1: {on} faster)")
    print("| B | T | H | articles' GRU | rnnkit GRU | rnnkit LSTM | LayerNorm-LSTM | "
          "nn.GRU (not switched) |")
    print("|---|---|---|---|---|---|---|---|")
    before = os.environ.get(var)
    try:
        for B, T, H in grid:
            torch.manual_seed(0)
            x = torch.randn(B, T, H, requires_grad=True)
            layers = [rnnkit.GRU(H, H, reset_after=False, backend="compiled"),
                      rnnkit.GRU(H, H, backend="compiled"),
                      rnnkit.LSTM(H, H, backend="compiled"),
                      rnnkit.RNN("ln_lstm", H, H, backend="compiled"),
                      torch.nn.GRU(H, H, batch_first=True)]
            times = {(i, v): [] for i in range(len(layers)) for v in "01"}
            for r in range(rounds + 1):
                for i, layer in enumerate(layers):
                    for v in ("01" if r % 2 else "10"):  # alternate which goes first
                        os.environ[var] = ON.get(part, "1") if v == "1" else "0"
                        t = _time(layer, x, True, 1)
                        if r:  # round 0 warms up
                            times[i, v].append(t)
            cells = [f"{statistics.median(times[i, '0']) / statistics.median(times[i, '1']):.2f}x"
                     for i in range(len(layers))]
            print(f"| {B} | {T} | {H} | " + " | ".join(cells) + " |", flush=True)
    finally:
        if before is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--grid", default="32x100x128,64x100x256,32x200x128,64x200x256,"
                        "32x400x256,1x100x128,8x100x128")
    parser.add_argument("--parts", default="backends,onednn,packed",
                        help="backends, and the switches: " + ", ".join(SWITCHES))
    args = parser.parse_args()
    if not compiled.ensure():
        raise SystemExit("the compiled kernels are not available here")
    grid = [tuple(int(v) for v in cell.split("x")) for cell in args.grid.split(",")]
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at start")
    for threads in (int(t) for t in args.threads.split(",")):
        if "backends" in args.parts:
            backends_table(threads, grid, args.rounds)
        for part in SWITCHES:
            if part in args.parts.split(","):
                switch_table(part, threads, [g for g in grid if g[0] >= 32],
                             2 * args.rounds + 1)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
