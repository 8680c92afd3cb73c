"""1 vs 2 torch threads for the small models the CLI trains: the evidence for `--threads`'s
default (`rnnkit.cli.common.DEFAULT_THREADS`). Usage: `python benchmarks/threads.py N`."""

import sys
import time

import numpy as np
import torch

import rnnkit
from rnnkit.data.windows import make_windows

n = int(sys.argv[1])
torch.set_num_threads(n)
X, y = make_windows(np.sin(np.arange(2000) / 10).astype(np.float32), 30)
times = []
for _ in range(3):
    model = rnnkit.SequenceRegressor(1, 32, standardize=True)
    t0, c0 = time.perf_counter(), time.process_time()
    rnnkit.fit(model, (X, y), epochs=2, batch_size=32, progress=False)
    times.append((time.perf_counter() - t0, time.process_time() - c0))
print(f"threads={n}: wall " + ", ".join(f"{w:.2f}" for w, _ in times) + " s; CPU "
      + ", ".join(f"{c:.2f}" for _, c in times) + " s")
