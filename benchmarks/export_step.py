"""Exported graphs vs PyTorch, side by side in one process on one CPU thread.

1. Streaming step, B = 1, I = H = 128 (LSTM and GRU): onnxruntime on the exported step graph
   (the layer as ONNX's LSTM/GRU operator over one step, as ``rnnkit export`` writes it, and
   the cell's equations as plain ONNX ops) vs ``rnnkit.RNN.step`` vs ``torch.nn.LSTMCell`` /
   ``GRUCell``. Microseconds per step (median of repeats), state carried.
2. Whole-sequence throughput, B = 64, T = 100: onnxruntime on the whole-sequence graph vs
   PyTorch eager (rnnkit's layer, which runs torch's fused kernel) vs ``torch.nn.LSTM/GRU``.

    nice -n 10 .venv/bin/python benchmarks/export_step.py
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import rnnkit
from rnnkit.export.graphs import Graph, Port
from rnnkit.export.onnx_export import session, write_onnx


class _Step(torch.nn.Module):
    def __init__(self, layer, fused: bool):
        super().__init__()
        self.layer, self.fused = layer, fused

    def forward(self, x_t, *state):
        state = tuple(state) if len(state) == 2 else state[0]
        if self.fused:  # one step as a length-1 sequence: the ONNX LSTM/GRU operator
            out, new = self.layer(x_t.unsqueeze(1), state)
            out = out[:, 0]
        else:  # the cell's equations, traced op by op
            out, new = self.layer.step(x_t, state)
        return (out, *(new if isinstance(new, tuple) else (new,)))


class _Whole(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)[0]


def _ports(kind, H, step: bool):
    names = ["h", "c"] if kind == "lstm" else ["h"]
    state = [Port(n, "float32", [1, "batch", H], "state") for n in names]
    if not step:
        return [Port("x", "float32", ["batch", "time", H])], [
            Port("y", "float32", ["batch", "time", H])]
    return ([Port("x_t", "float32", ["batch", H]), *state],
            [Port("y_t", "float32", ["batch", H]),
             *[Port(p.name + "_next", "float32", p.shape) for p in state]])


def _race(fns: dict, steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Microseconds per call (best, median) of each function, timed in turns.

    Each repeat times ``steps`` calls of every function in turn, so load from other processes
    falls on all of them alike; the best run is the least disturbed one.
    """
    for fn in fns.values():
        fn()
    runs = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            t = time.perf_counter()
            for _ in range(steps):
                fn()
            runs[label].append((time.perf_counter() - t) / steps * 1e6)
    return {label: (min(r), statistics.median(r)) for label, r in runs.items()}


def bench_step(kind: str, H: int, steps: int, repeats: int, folder: Path) -> dict[str, float]:
    layer = rnnkit.RNN(kind, H, H).eval()
    fns = {}
    x = torch.randn(1, H)
    names = ["h", "c"] if kind == "lstm" else ["h"]
    for fused in (True, False):
        inputs, outputs = _ports(kind, H, step=True)
        path = folder / f"{kind}_step_{int(fused)}.onnx"
        write_onnx(Graph("step", _Step(layer, fused), inputs, outputs), path)
        sess = session(path)
        feed = {"x_t": x.numpy(), **{n: np.zeros((1, 1, H), np.float32) for n in names}}

        def ort_step(sess=sess, feed=feed):
            outs = sess.run(None, feed)
            for n, v in zip(names, outs[1:], strict=True):
                feed[n] = v

        label = "onnxruntime step graph (" + ("ONNX operator" if fused else "cell ops") + ")"
        fns[label] = ort_step
    state = [layer.init_state(1)]

    def rnnkit_step():
        _, state[0] = layer.step(x, state[0])

    cell = (torch.nn.LSTMCell if kind == "lstm" else torch.nn.GRUCell)(H, H).eval()
    hs = [(torch.zeros(1, H), torch.zeros(1, H)) if kind == "lstm" else torch.zeros(1, H)]

    def torch_cell():
        out = cell(x, hs[0])
        hs[0] = out

    fns["rnnkit RNN.step (eager)"] = rnnkit_step
    fns[f"torch.nn.{'LSTM' if kind == 'lstm' else 'GRU'}Cell (eager)"] = torch_cell
    with torch.no_grad():
        return _race(fns, steps, repeats)


def bench_whole(kind: str, H: int, B: int, T: int, repeats: int, folder: Path) -> dict:
    layer = rnnkit.RNN(kind, H, H).eval()
    inputs, outputs = _ports(kind, H, step=False)
    path = folder / f"{kind}_whole.onnx"
    write_onnx(Graph("model", _Whole(layer), inputs, outputs), path)
    sess = session(path)
    x = torch.randn(B, T, H)
    xn = x.numpy()
    ref = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(H, H, batch_first=True).eval()
    fns = {"onnxruntime whole-sequence graph": lambda: sess.run(None, {"x": xn}),
           "rnnkit RNN (PyTorch eager, fused kernel)": lambda: layer(x),
           f"torch.nn.{kind.upper()} (eager)": lambda: ref(x)}
    with torch.no_grad():
        times = _race(fns, 2, repeats)
    return {label: (B / (best / 1e6), B / (med / 1e6)) for label, (best, med) in times.items()}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--steps", type=int, default=200, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=30, help="timed runs of each, in turns")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--time", type=int, default=100)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import onnxruntime

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"{platform.processor() or platform.machine()}, 1 thread each")
    cpu0 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in ("lstm", "gru"):
            res = bench_step(kind, args.hidden, args.steps, args.repeats, folder)
            anchor = res[f"torch.nn.{'LSTM' if kind == 'lstm' else 'GRU'}Cell (eager)"][0]
            print(f"\n### Streaming step, {kind.upper()}, B=1, I=H={args.hidden}\n")
            print("| | µs / step, best | median | best vs torch.nn cell |\n|---|---:|---:|---:|")
            for label, (best, med) in res.items():
                print(f"| {label} | {best:.1f} | {med:.1f} | {best / anchor:.2f}x |")
        for kind in ("lstm", "gru"):
            res = bench_whole(kind, args.hidden, args.batch, args.time, args.repeats, folder)
            anchor = res["rnnkit RNN (PyTorch eager, fused kernel)"][0]
            print(f"\n### Whole sequences, {kind.upper()}, B={args.batch}, T={args.time}, "
                  f"I=H={args.hidden}\n")
            print("| | sequences / s, best | median | best vs PyTorch eager |\n"
                  "|---|---:|---:|---:|")
            for label, (best, med) in res.items():
                print(f"| {label} | {best:,.0f} | {med:,.0f} | {best / anchor:.2f}x |")
    print(f"\nCPU time: {time.process_time() - cpu0:.1f} s")


if __name__ == "__main__":
    main()
