"""Data-parallel throughput: ``rnnkit.fit`` in 1 process vs N processes (torch.distributed).

CPU (default): 1 process x 2 torch threads against 2 processes x 1 thread (gloo, DDP), and
with ``--with-one-thread`` 1 process x 1 thread too; same global batch and the same fixed
number of optimizer steps, on two real workloads:

- Tiny Shakespeare, character LM: 1x256 LSTM, 32 parallel streams of 64 chars, truncated BPTT
  (the streams are split across the processes);
- ETTh1: a 1x128 GRU regressor from 96 hourly rows of the 7 channels to the next OT value,
  batches of 128 shuffled windows.

GPU (``--gpus N``): 1 GPU against N GPUs (NCCL, one process per GPU, ``LOCAL_RANK`` choosing
it), batches scaled up (``--scale``) so a GPU has work to do.

Each layout trains ``--epochs`` epochs of ``--steps`` steps; the table reports the last epoch
(the first one pays for start-up), in samples (LM: characters) per second, the ratio to the
1-process layout, and the CPU seconds of all processes. The processes are started with
torch.multiprocessing and the torchrun variables, as torchrun would.

    python benchmarks/distributed.py                       # CPU: 1x2 threads vs 2x1
    python benchmarks/distributed.py --gpus 8 --scale 8    # a GPU machine: 1 vs 8 GPUs

Data: --data DIR or $RNNKIT_DATA (default ../shared/data): tinyshakespeare/input.txt and
ett/ETTh1.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp

import rnnkit
from rnnkit.data.text import StreamBatches

WORKLOADS = ("shakespeare", "etth1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shakespeare(root: Path, steps: int, scale: int):
    text = (root / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    vocab = sorted(set(text))
    streams, seq = 32 * scale, 64
    need = streams * seq * steps + 1
    ids = torch.tensor([vocab.index(c) for c in text[:need]] if need <= len(text) else
                       [vocab.index(c) for c in (text * (need // len(text) + 1))[:need]])
    torch.manual_seed(0)
    model = rnnkit.LanguageModel(len(vocab), 256, cell="lstm", embedding_dim=64)
    data = StreamBatches(ids, batch_size=streams, seq_len=seq)
    per_step = streams * seq
    return model, data, {"loss": "cross_entropy", "tbptt": seq}, per_step


def etth1(root: Path, steps: int, scale: int):
    import pandas as pd

    frame = pd.read_csv(root / "ett" / "ETTh1.csv")
    values = frame.drop(columns=["date"]).to_numpy(np.float32)[:8640]  # the training rows
    values = (values - values.mean(0)) / values.std(0)
    window, batch = 96, 128 * scale
    n = batch * steps
    starts = np.arange(n) % (len(values) - window - 1)
    X = np.stack([values[s:s + window] for s in starts])  # (N, 96, 7)
    y = values[starts + window, -1]  # the next OT
    torch.manual_seed(0)
    model = rnnkit.SequenceRegressor(7, 128, 1, cell="gru")
    return model, (X, y), {"batch_size": batch}, batch


def worker(rank: int, world: int, port: int, args, out: str) -> None:
    if world > 1:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    device = f"cuda:{rank}" if args.gpus else "cpu"
    model, data, options, per_step = globals()[args.workload](Path(args.data), args.steps,
                                                               args.scale)
    history = rnnkit.fit(model, data, epochs=args.epochs, lr=1e-3, progress=False,
                         device=device, seed=0, **options)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"seconds": history.rows[-1]["seconds"], "steps": history.rows[-1]["steps"],
                   "loss": history.rows[-1]["train_loss"], "per_step": per_step,
                   "cpu": usage.ru_utime + usage.ru_stime}, f)


def measure(args, world: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        mp.start_processes(worker, args=(world, free_port(), args, out), nprocs=world,
                           join=True, start_method="spawn")
        wall = time.perf_counter() - t0
        ranks = [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(world)]
    r0 = ranks[0]
    return {"seconds": r0["seconds"], "throughput": r0["per_step"] * r0["steps"] / r0["seconds"],
            "loss": r0["loss"], "cpu": sum(r["cpu"] for r in ranks), "wall": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("RNNKIT_DATA", "../shared/data"))
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per epoch")
    p.add_argument("--epochs", type=int, default=2, help="the last one is timed")
    p.add_argument("--gpus", type=int, default=0, help="N: compare 1 GPU with N GPUs (NCCL)")
    p.add_argument("--scale", type=int, default=1, help="multiply the global batch")
    p.add_argument("--nproc", type=int, default=2, help="CPU: processes of 1 thread")
    p.add_argument("--with-one-thread", action="store_true",
                   help="CPU: also time 1 process x 1 thread (a loaded machine punishes threads)")
    args = p.parse_args()
    if args.gpus:
        layouts = [("1 GPU", 1, 1), (f"{args.gpus} GPUs", args.gpus, 1)]
    else:
        layouts = [(f"1 process x {args.nproc} threads", 1, args.nproc),
                   (f"{args.nproc} processes x 1 thread", args.nproc, 1)]
        if args.with_one_thread:
            layouts.append(("1 process x 1 thread", 1, 1))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.steps} steps per epoch, "
          f"epoch {args.epochs} timed, global batch x{args.scale}")
    print("| workload | layout | epoch s | throughput /s | vs 1 | train loss | CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.workloads.split(","):
        base = None
        for label, world, threads in layouts:
            args.workload, args.threads = name, threads
            r = measure(args, world)
            base = base or r["throughput"]
            unit = "chars" if name == "shakespeare" else "windows"
            rate = r["throughput"]
            rate = f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"
            print(f"| {name} | {label} | {r['seconds']:.2f} | {rate} {unit} | "
                  f"{r['throughput'] / base:.2f}x | {r['loss']:.4f} | {r['cpu']:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
