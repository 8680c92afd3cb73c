"""The compiled CPU path (rnnkit.compiled) against torch.nn, side by side in one process.

Forward + backward of one layer (input size = H), interleaved rounds, median time; each row
also as a fraction of the fp32 matmul peak measured in the same run (a 1024^3 matmul, the
faster of torch.mm and oneDNN), taking a layer's work as 3x its forward multiply-adds. The
rnnkit columns force ``backend="compiled"``, except "rnnkit LSTM, auto": the default, which
runs torch's oneDNN LSTM where that measured faster than the kernels. Then minGRU's
training step against nn.GRU, and the streaming step (B 1, H 128, no_grad) against one
nn.LSTMCell call.

On a shared machine, 1 thread: ``--clock cpu`` times each contender by process CPU time
(wall time there mostly measures the other jobs); ``--cells gru`` runs the GRU columns only.

    make kernels && .venv/bin/python benchmarks/compiled.py --threads 1,2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import rnnkit
from rnnkit import compiled


def peak_gflops(repeats: int = 5) -> float:
    """The faster of torch.mm (MKL) and oneDNN (the kernels' big matmuls) on 1024^3."""
    a, b, out = torch.randn(1024, 1024), torch.randn(1024, 1024), torch.empty(1024, 1024)
    contenders = [lambda: a @ b]
    if compiled.available():
        contenders.append(lambda: torch.ops.rnnkit.mm_into(out, a, b, 0.0))
    best = float("inf")
    for fn in contenders:
        fn()
        best = min(best, *(_timed(fn) for _ in range(repeats)))
    return 2 * 1024 ** 3 / best / 1e9


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCK["wall"]


def _timed(fn) -> float:
    t0 = _clock()
    fn()
    return _clock() - t0


def train_step(layer, x):
    def run():
        layer.zero_grad(set_to_none=True)
        layer(x)[0].sum().backward()
    return run


def race(contenders: dict, rounds: int) -> dict:
    """Median seconds of each contender, run in interleaved rounds (one warm-up each)."""
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(_timed(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def layer_flops(gates: int, B: int, T: int, H: int) -> float:
    return 3 * 2 * B * T * gates * H * (H + H)  # forward W_ih and W_hh, backward twice that


GRU_NETS = ("nn.GRU", "gru_before", "gru")


def gated_table(threads: int, rounds: int, peak: float, grid, only_gru: bool = False) -> None:
    print(f"\n### forward+backward, {threads} thread(s); matmul peak {peak:.0f} GFLOP/s; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| B | T | H | nn.GRU ms | articles' GRU (reset-before) | rnnkit GRU | nn.LSTM ms "
          "| rnnkit LSTM | rnnkit LSTM, auto | SimpleRNN vs nn.RNN |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for B, T, H in grid:
        torch.manual_seed(0)
        x = torch.randn(B, T, H)
        nets = {
            "nn.GRU": torch.nn.GRU(H, H, batch_first=True),
            "gru_before": rnnkit.GRU(H, H, reset_after=False, backend="compiled"),
            "gru": rnnkit.GRU(H, H, backend="compiled"),
            "nn.LSTM": torch.nn.LSTM(H, H, batch_first=True),
            "lstm": rnnkit.LSTM(H, H, backend="compiled"),
            # what a user gets: auto takes torch's oneDNN LSTM where that measured faster
            "lstm_auto": rnnkit.LSTM(H, H),
            "nn.RNN": torch.nn.RNN(H, H, batch_first=True),
            "rnn": rnnkit.SimpleRNN(H, H, backend="compiled"),
        }
        if only_gru:
            nets = {k: v for k, v in nets.items() if k in GRU_NETS}
        t = race({k: train_step(m, x) for k, m in nets.items()}, rounds)

        def cell(name, anchor, gates, t=t, size=(B, T, H)):
            if name not in t:
                return "-"
            share = layer_flops(gates, *size) / t[name] / 1e9 / peak
            return f"{t[anchor] / t[name]:.2f}x ({share:.0%} of peak)"

        lstm_ms = f"{t['nn.LSTM'] * 1e3:.0f}" if "nn.LSTM" in t else "-"
        print(f"| {B} | {T} | {H} | {t['nn.GRU'] * 1e3:.0f} | {cell('gru_before', 'nn.GRU', 3)} "
              f"| {cell('gru', 'nn.GRU', 3)} | {lstm_ms} "
              f"| {cell('lstm', 'nn.LSTM', 4)} | {cell('lstm_auto', 'nn.LSTM', 4)} "
              f"| {cell('rnn', 'nn.RNN', 1)} |", flush=True)


def dropout_table(threads: int, rounds: int, grid, p: float = 0.25) -> None:
    """Training with recurrent dropout: the kernels (each cell's mask passed in) against the
    Python loop, which was the only way before (torch's fused kernels cannot drop h)."""
    print(f"\n### recurrent_dropout={p}, forward+backward, {threads} thread(s) "
          "(ratio = loop time / kernels' time)")
    kinds = [("LSTM", "lstm", {}), ("GRU", "gru", {}),
             ("articles' GRU", "gru", {"reset_after": False}), ("LayerNorm-LSTM", "ln_lstm", {})]
    print("| B | T | H | " + " | ".join(k[0] for k in kinds) + " |")
    print("|---|---|---|" + "---|" * len(kinds))
    for B, T, H in grid:
        torch.manual_seed(0)
        x = torch.randn(B, T, H)
        nets = {}
        for name, kind, options in kinds:
            for backend in ("loop", "compiled"):
                nets[name, backend] = rnnkit.RNN(kind, H, H, backend=backend,
                                                 recurrent_dropout=p, **options)
        t = race({k: train_step(m, x) for k, m in nets.items()}, rounds)
        cells = [f"{t[k[0], 'loop'] / t[k[0], 'compiled']:.2f}x" for k in kinds]
        print(f"| {B} | {T} | {H} | " + " | ".join(cells) + " |", flush=True)


def min_gru_row(rounds: int) -> None:
    B, T, H = 16, 1000, 256
    x = torch.randn(B, T, H)
    nets = {"nn.GRU": torch.nn.GRU(H, H, batch_first=True),
            "minGRU compiled": rnnkit.RNN("mingru", H, H, backend="compiled"),
            "minGRU loop": rnnkit.RNN("mingru", H, H, backend="loop"),
            "minGRU scan": rnnkit.RNN("mingru", H, H, backend="scan"),
            "minLSTM compiled": rnnkit.RNN("minlstm", H, H, backend="compiled")}
    t = race({k: train_step(m, x) for k, m in nets.items()}, rounds)
    print(f"\n### minGRU training step, B {B}, T {T}, H {H}, {torch.get_num_threads()} "
          "thread(s) (ratio = nn.GRU time / this)")
    print("| layer | ms | vs nn.GRU |\n|---|---|---|")
    for name, s in t.items():
        print(f"| {name} | {s * 1e3:.0f} | {t['nn.GRU'] / s:.2f}x |")


def step_row(calls: int = 3000) -> None:
    H = 128
    x = torch.randn(1, H)
    cell = torch.nn.LSTMCell(H, H)
    hc = (torch.zeros(1, H), torch.zeros(1, H))
    layers = {"nn.LSTMCell call": None, "rnnkit LSTM.step": rnnkit.LSTM(H, H),
              "rnnkit GRU.step": rnnkit.GRU(H, H),
              "rnnkit 2-layer LSTM.step": rnnkit.LSTM(H, H, num_layers=2),
              "rnnkit LSTM.step, loop": rnnkit.LSTM(H, H, backend="loop")}

    def loop_of(name):
        if layers[name] is None:
            def run_cell():
                state = hc
                for _ in range(calls):
                    state = cell(x, state)
            return run_cell
        layer = layers[name]

        def stream():  # a stream: each step gets the state the last one returned
            state = layer.init_state(1)
            for _ in range(calls):
                _, state = layer.step(x, state)
        return stream

    with torch.no_grad():
        t = race({name: loop_of(name) for name in layers}, 5)
    print(f"\n### streaming step, B 1, H {H}, no_grad (µs per call)")
    print("| call | µs | vs nn.LSTMCell |\n|---|---|---|")
    for name, s in t.items():
        print(f"| {name} | {s / calls * 1e6:.1f} | {t['nn.LSTMCell call'] / s:.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--grid", default="32x100x128,32x100x256,64x100x128,64x100x256,"
                                          "32x1000x128,32x1000x256,64x1000x128,64x1000x256")
    parser.add_argument("--parts", default="tables,mingru,step",
                        help="which parts to run: tables and dropout (per --threads), mingru, "
                        "step")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                        help="wall time, or process CPU time (1 thread on a shared machine)")
    parser.add_argument("--cells", choices=["all", "gru"], default="all",
                        help="the tables' columns: all, or the GRU ones only")
    parser.add_argument("--mingru-threads", default="1",
                        help="threads for the minGRU rows, e.g. 1,2")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    global _clock
    _clock = CLOCK[args.clock]
    if not compiled.ensure():
        raise SystemExit("compiled kernels unavailable: nothing to compare")
    grid = [tuple(int(v) for v in cell.split("x")) for cell in args.grid.split(",")]
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.clock} clock")
    for threads in [int(t) for t in args.threads.split(",")] if "tables" in parts else []:
        torch.set_num_threads(threads)
        gated_table(threads, args.rounds, peak_gflops(), grid, only_gru=args.cells == "gru")
    for threads in [int(t) for t in args.threads.split(",")] if "dropout" in parts else []:
        torch.set_num_threads(threads)
        dropout_table(threads, args.rounds, grid)
    for threads in [int(t) for t in args.mingru_threads.split(",")] if "mingru" in parts else []:
        torch.set_num_threads(threads)
        min_gru_row(max(3, args.rounds // 2))
    torch.set_num_threads(1)
    if "step" in parts:
        step_row()
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
