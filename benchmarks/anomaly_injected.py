"""A second stream set for the anomaly defaults, one they were not tuned on (they were tuned
on NAB): ETTh1 (hourly transformer readings), the first 3,000 rows of one column at a time,
with three faults injected after the learning period: a missing daily cycle (48 h held at
their mean), a spike of 6 standard deviations, a level shift of 3 for 24 h. One model per
column, trained and scored with `rnnkit anomaly train` / `score` and their defaults (or the
flags given with --train / --score).

Columns are split: HUFL and OT are the development columns (looked at while the defaults
were chosen), HULL, MUFL, MULL, LUFL, LULL the held-out ones, run once with the chosen
defaults (`--columns held-out`). A fault counts as found when a reading from its start to 60
readings after its end is flagged. ETTh1 has faults of its own: on the last day of some
months every column holds one value for 24 h (rows 720, 1464 and 2928 of these 3,000), a
recording fault; flags there are reported on their own ("data's stuck days"), not counted as
false. Every other flag after the learning period is a false flag.

    RNNKIT_DATA=../shared/data python benchmarks/anomaly_injected.py --columns dev
    RNNKIT_DATA=../shared/data python benchmarks/anomaly_injected.py --columns held-out
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.text import data_root

ROWS = 3000
FAULTS = ((1200, 1248), (1800, 1801), (2400, 2424))  # flat 48 h, spike, shift 24 h
AFTER = 60  # a flag this many readings after a fault's end still finds it
DEV = ("HUFL", "OT")
HELD_OUT = ("HULL", "MUFL", "MULL", "LUFL", "LULL")
STUCK = 12  # a run of at least this many equal readings in the raw data: its own fault


def inject(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values with FAULTS injected (sizes in sd of the first 450 readings, the default
    learning period of 3,000) and their 0/1 labels."""
    v, labels = values.copy(), np.zeros(len(values), int)
    sd = v[:450].std()
    (a, b), (s, _), (c, d) = FAULTS
    v[a:b] = v[a:b].mean()
    v[s] += 6 * sd
    v[c:d] += 3 * sd
    for lo, hi in FAULTS:
        labels[lo:hi] = 1
    return v, labels


def stuck_runs(values: np.ndarray, start: int) -> list[tuple[int, int]]:
    """(first, end) of the runs of >= STUCK equal readings that begin at or after ``start``."""
    edges = np.r_[0, np.flatnonzero(np.diff(values) != 0) + 1, len(values)]
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)
            if b - a >= STUCK and a >= start]


def run_column(df: pd.DataFrame, col: str, tmp: Path, train_flags: list[str],
               score_flags: list[str], seed: int) -> dict:
    rnnkit = [sys.executable, "-m", "rnnkit"]
    raw = df[col].to_numpy()[:ROWS]
    values, labels = inject(raw)
    data, ckpt, out = tmp / f"{col}.csv", tmp / col, tmp / f"{col}-scores.csv"
    pd.DataFrame({"timestamp": df["date"][:ROWS], "value": values,
                  "label": labels}).to_csv(data, index=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(rnnkit + ["anomaly", "train", "--data", str(data), "--checkpoint", str(ckpt),
                             "--seed", str(seed), "--quiet"] + train_flags, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(rnnkit + ["anomaly", "score", "--checkpoint", str(ckpt), "--data", str(data),
                             "--out", str(out), "--quiet"] + score_flags, check=True,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    learned = json.loads((ckpt / "config.json").read_text())["extras"]["learned_rows"]
    flag = pd.read_csv(out)["flag"].to_numpy()
    assert not flag[:learned].any(), "flags inside the learning period"
    found = [int(flag[lo:hi + AFTER].any()) for lo, hi in FAULTS]
    own = stuck_runs(raw, learned)
    own_found = sum(int(flag[lo:hi + AFTER].any()) for lo, hi in own)
    near = np.zeros(len(flag), bool)
    near[:learned] = True
    for lo, hi in list(FAULTS) + own:
        near[lo:hi + AFTER] = True
    return {"column": col, "flat": found[0], "spike": found[1], "shift": found[2],
            "found": sum(found), "stuck days": f"{own_found}/{len(own)}",
            "false flags": int(flag[~near].sum()), "flags": int(flag.sum()),
            "CPU s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
                           1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--columns", default="dev",
                   help="dev (HUFL, OT), held-out (HULL, MUFL, MULL, LUFL, LULL), all, or a "
                        "comma-separated list")
    p.add_argument("--train", default="", help="extra `rnnkit anomaly train` flags (quoted)")
    p.add_argument("--score", default="", help="extra `rnnkit anomaly score` flags (quoted)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    columns = {"dev": DEV, "held-out": HELD_OUT, "all": DEV + HELD_OUT}.get(
        args.columns, tuple(c.strip() for c in args.columns.split(",")))
    df = pd.read_csv(data_root() / "ett" / "ETTh1.csv")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for col in columns:
            rows.append(run_column(df, col, Path(tmp), shlex.split(args.train),
                                   shlex.split(args.score), args.seed))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    total = {"column": "total", **{k: int(table[k].sum()) for k in
                                   ("flat", "spike", "shift", "found", "false flags", "flags")}}
    own = [r["stuck days"].split("/") for r in rows]
    total["stuck days"] = f"{sum(int(a) for a, _ in own)}/{sum(int(b) for _, b in own)}"
    total["CPU s"] = round(float(table["CPU s"].sum()), 1)
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    print(f"\nETTh1 first {ROWS} rows, faults injected at {FAULTS} (flat, spike, shift); "
          f"train flags {args.train!r}, score flags {args.score!r}, seed {args.seed}; "
          f"found out of {3 * len(columns)}; load average {os.getloadavg()[0]:.1f}")
    print(table.to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
