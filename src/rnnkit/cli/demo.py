"""``rnnkit demo``: the tour a newcomer sees first. Each part is a module in ``rnnkit.demos``."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import torch

from .common import add_common, examples, new_parser

# demo parts, in order; each module has run(out_dir: Path, seed: int, quiet: bool) -> None
PARTS = [
    "rnnkit.demos.layers",
    "rnnkit.demos.next_number",
    "rnnkit.demos.textgen",
    "rnnkit.demos.forecast",
    "rnnkit.demos.classify",
    "rnnkit.demos.diagnose",
    "rnnkit.demos.translate",
    "rnnkit.demos.anomaly",
]


def register(subparsers) -> None:
    p = new_parser(
        subparsers, "demo",
        help="train, predict, generate, forecast, classify, translate and detect anomalies on "
             "built-in data",
        epilog=examples("rnnkit demo", "rnnkit demo --out /tmp/tour --only layers"))
    p.add_argument("--out", default="rnnkit-demo", help="folder for plots and checkpoints")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the demo's models are small, and extra "
                        "threads only contend on a busy machine)")
    p.add_argument("--only", default=None,
                   help="comma-separated part names to run (default: all): "
                        + ", ".join(name.rsplit(".", 1)[1] for name in PARTS))
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = {n.rsplit(".", 1)[1]: n for n in PARTS}
    chosen = list(names) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [c for c in chosen if c not in names]
    if unknown:
        raise ValueError(f"unknown demo part(s) {', '.join(unknown)}; expected {', '.join(names)}")
    if args.threads < 1:
        raise ValueError(f"--threads must be a positive integer, got {args.threads}")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    for name in chosen:
        t0 = time.perf_counter()
        print(f"\n=== {name} ===")
        importlib.import_module(names[name]).run(out, args.seed, args.quiet)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)")
    wrote = any(out.iterdir())  # the layers part writes nothing
    print(f"\nrnnkit demo done in {time.perf_counter() - start:.1f} s"
          + (f"; files in {out}/" if wrote else ""))
    return 0
