"""Layer speed, side by side in one process: rnnkit (auto = fused, loop) vs torch.nn and a
naive Python loop over torch.nn.LSTMCell / GRUCell. Forward+backward tokens per second.

    python benchmarks/layers.py            # the full grid of the Foundation issue
    python benchmarks/layers.py --quick    # one small configuration

Also: streaming latency of one `step` at B=1, H=128 (cell path) against torch.nn.LSTMCell
and against the fused layer called on a length-1 sequence.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch
from torch import nn

import rnnkit


def measure(fn, repeats: int, warmup: int = 1) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class NaiveCellLoop(nn.Module):
    """What a user writes by hand: torch.nn.LSTMCell/GRUCell stepped in Python."""

    def __init__(self, kind, input_size, hidden_size):
        super().__init__()
        self.kind = kind
        self.cell = (nn.LSTMCell if kind == "lstm" else nn.GRUCell)(input_size, hidden_size)

    def forward(self, x):
        state, outs = None, []
        for x_t in x.unbind(1):
            state = self.cell(x_t, state)
            outs.append(state[0] if self.kind == "lstm" else state)
        return torch.stack(outs, 1), state


def fwd_bwd(model, x):
    def run():
        model.zero_grad(set_to_none=True)
        out = model(x)[0]
        out.sum().backward()
    return run


def layer_table(grid, repeats):
    print("## forward+backward tokens/s (median of", repeats, "runs); ratio vs torch.nn")
    header = (f"| {'cell':4} | {'B':>3} | {'T':>3} | {'H':>3} | {'torch.nn':>10} "
              f"| {'rnnkit auto':>11} | {'ratio':>5} | {'rnnkit loop':>11} | {'naive loop':>10} "
              f"| {'loop/naive':>10} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for kind, B, T, H in grid:
        I = 64
        torch.manual_seed(0)
        x = torch.randn(B, T, I)
        torch_layer = (nn.LSTM if kind == "lstm" else nn.GRU)(I, H, batch_first=True)
        auto = rnnkit.RNN(kind, I, H, backend="auto")
        loop = rnnkit.RNN(kind, I, H, backend="loop")
        naive = NaiveCellLoop(kind, I, H)
        tokens = B * T
        r = {name: tokens / measure(fwd_bwd(m, x), repeats)
             for name, m in [("torch", torch_layer), ("auto", auto), ("loop", loop),
                             ("naive", naive)]}
        print(f"| {kind:4} | {B:3} | {T:3} | {H:3} | {r['torch']:10,.0f} | {r['auto']:11,.0f} "
              f"| {r['auto'] / r['torch']:5.2f} | {r['loop']:11,.0f} | {r['naive']:10,.0f} "
              f"| {r['loop'] / r['naive']:10.2f} |", flush=True)


def streaming_table(steps: int = 2000):
    torch.manual_seed(0)
    I, H = 64, 128
    layer = rnnkit.LSTM(I, H).eval()
    cell = nn.LSTMCell(I, H).eval()
    fused = nn.LSTM(I, H, batch_first=True).eval()
    xs = torch.randn(steps, 1, I)

    def ours():
        state = None
        for x_t in xs:
            _, state = layer.step(x_t, state)

    def torch_cell():
        state = None
        for x_t in xs:
            state = cell(x_t, state)

    def fused_len1():
        state = None
        for x_t in xs:
            _, state = fused(x_t.unsqueeze(1), state)

    print(f"\n## streaming: microseconds per step, B=1, I={I}, H={H}, no grad, {steps} steps")
    print("| implementation | µs/step |")
    print("|---|---|")
    with torch.no_grad():
        for name, fn in [("rnnkit LSTM.step (cell path)", ours),
                         ("torch.nn.LSTMCell", torch_cell),
                         ("torch.nn.LSTM on a length-1 input", fused_len1)]:
            print(f"| {name} | {measure(fn, 3) / steps * 1e6:.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small configuration")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"rnnkit {rnnkit.__version__}")
    if args.quick:
        grid = [("lstm", 32, 100, 128), ("gru", 32, 100, 128)]
    else:
        grid = [(k, B, T, H) for k in ("lstm", "gru")
                for B, T, H in itertools.product((32, 64), (100, 500), (128, 256))]
    layer_table(grid, args.repeats)
    streaming_table()


if __name__ == "__main__":
    main()
