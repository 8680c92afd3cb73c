"""A second stream set for the anomaly defaults, one they were not tuned on (they were tuned
on NAB): ETTh1 (hourly transformer readings), columns HUFL and OT, the first 3,000 rows, with
three faults injected after the learning period: a missing daily cycle (48 h held at their
mean), a spike of 6 standard deviations, a level shift of 3 for 24 h. One model per column
with `rnnkit anomaly train`'s defaults, scored with the seasonal signal on (the default) and
off (`--seasonal-min-ac none`).

    RNNKIT_DATA=../shared/data python benchmarks/anomaly_injected.py
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.data.text import data_root

FAULTS = ((1200, 1248), (1800, 1801), (2400, 2424))  # flat 48 h, spike, shift 24 h


def inject(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v, labels = values.copy(), np.zeros(len(values), int)
    sd = v[:450].std()
    (a, b), (s, _), (c, d) = FAULTS
    v[a:b] = v[a:b].mean()
    v[s] += 6 * sd
    v[c:d] += 3 * sd
    for lo, hi in FAULTS:
        labels[lo:hi] = 1
    return v, labels


def main() -> int:
    rnnkit = [sys.executable, "-m", "rnnkit"]
    df = pd.read_csv(data_root() / "ett" / "ETTh1.csv")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for col in ("HUFL", "OT"):
            values, labels = inject(df[col].to_numpy()[:3000])
            data = tmp / f"{col}.csv"
            pd.DataFrame({"timestamp": df["date"][:3000], "value": values,
                          "label": labels}).to_csv(data, index=False)
            ckpt = tmp / col
            subprocess.run(rnnkit + ["anomaly", "train", "--data", str(data), "--checkpoint",
                                     str(ckpt), "--quiet"], check=True)
            for name, extra in (("on (default)", []), ("off", ["--seasonal-min-ac", "none"])):
                out = tmp / "scores.csv"
                subprocess.run(rnnkit + ["anomaly", "score", "--checkpoint", str(ckpt),
                                         "--data", str(data), "--out", str(out), "--quiet"]
                               + extra, check=True)
                flag = pd.read_csv(out)["flag"].to_numpy()
                found = [int(flag[lo:hi + 60].any()) for lo, hi in FAULTS]
                near = np.zeros(len(flag), bool)
                near[:450] = True  # the learning period is not scored
                for lo, hi in FAULTS:
                    near[lo:hi + 60] = True
                print(f"{col:5s} seasonal signal {name:13s} faults found (flat, spike, shift) "
                      f"{found}  flags elsewhere {int(flag[~near].sum())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
