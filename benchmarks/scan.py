"""Parallel scan vs sequential loop: minGRU/minLSTM trained with `backend="scan"` against the
same cells stepped in a loop, and against torch's fused LSTM/GRU kernels. Forward+backward
tokens per second, one process.

    python benchmarks/scan.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnkit


def tokens_per_s(layer, x, repeats):
    def run():
        layer.zero_grad(set_to_none=True)
        layer(x)[0].sum().backward()
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return x.shape[0] * x.shape[1] / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", default="100,500,2000")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    B, I, H = 32, 64, 128
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; B={B}, I={I}, H={H}")
    print("forward+backward tokens/s (median); ratio = scan / loop of the same cell")
    print("| T | minGRU scan | minGRU loop | ratio | minLSTM scan | minLSTM loop | ratio "
          "| fused LSTM | fused GRU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for T in [int(t) for t in args.lengths.split(",")]:
        torch.manual_seed(0)
        x = torch.randn(B, T, I)
        r = {}
        for kind in ("mingru", "minlstm"):
            for backend in ("scan", "loop"):
                r[kind, backend] = tokens_per_s(rnnkit.RNN(kind, I, H, backend=backend), x,
                                                args.repeats)
        lstm = tokens_per_s(rnnkit.LSTM(I, H), x, args.repeats)
        gru = tokens_per_s(rnnkit.GRU(I, H), x, args.repeats)
        print(f"| {T} | {r['mingru', 'scan']:,.0f} | {r['mingru', 'loop']:,.0f} "
              f"| {r['mingru', 'scan'] / r['mingru', 'loop']:.1f}x "
              f"| {r['minlstm', 'scan']:,.0f} | {r['minlstm', 'loop']:,.0f} "
              f"| {r['minlstm', 'scan'] / r['minlstm', 'loop']:.1f}x "
              f"| {lstm:,.0f} | {gru:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
