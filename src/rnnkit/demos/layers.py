"""Demo part: one layer used two ways (whole sequence, then streaming) and its backends."""

from __future__ import annotations

import time

import torch

import rnnkit
from rnnkit import compiled


def _time(fn, repeats: int = 5) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def run(out_dir, seed: int = 0, quiet: bool = False) -> None:
    torch.manual_seed(seed)
    layer = rnnkit.LSTM(8, 32).eval()
    x = torch.randn(4, 50, 8)
    with torch.no_grad():
        whole, _ = layer(x)
        state, steps = None, []
        for x_t in x.unbind(1):  # streaming: one step at a time, carrying the state
            y, state = layer.step(x_t, state)
            steps.append(y)
    diff = (torch.stack(steps, 1) - whole).abs().max().item()
    print("LSTM(8, 32) on (4, 50, 8): whole sequence vs 50 streaming steps, "
          f"max |diff| = {diff:.1e}")

    x = torch.randn(32, 100, 64)
    timings = {}
    # the compiled kernels only when `make test`/`make kernels` built them: the demo never
    # waits ~40 s for a compiler
    backends = ("fused", "compiled", "loop") if compiled.available() else ("fused", "loop")
    for backend in backends:
        lstm = rnnkit.LSTM(64, 128, backend=backend)

        def fwd_bwd(lstm=lstm):
            out, _ = lstm(x)
            out.sum().backward()

        timings[backend] = _time(fwd_bwd, repeats=3)
    tokens = 32 * 100
    print("LSTM(64, 128), B=32, T=100, forward+backward:")
    for backend, sec in timings.items():
        print(f"  backend={backend:8s} {tokens / sec:10,.0f} tokens/s  "
              f"({timings['loop'] / sec:.1f}x the loop)")
    if "compiled" not in timings:
        print("  (backend=compiled: rnnkit's C++ kernels, built by `make kernels`)")
