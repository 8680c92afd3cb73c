"""``rnnkit anomaly train|score|evaluate``: anomaly detection on a stream or on sequences, over
``rnnkit.apps.anomaly``. Flags come from ``anomaly.Config``; a verb parses, calls the
application and prints what it returns. Bad input: one line, exit 2, nothing written."""

from __future__ import annotations

import json

import torch

from .common import UsageError, add_common, examples, new_parser, no_action, out_file

DEMO = "rnnkit-demo/anomaly"  # `rnnkit demo --only anomaly` writes these files
EXAMPLES = (
    "rnnkit demo --only anomaly",
    f"rnnkit anomaly train --data {DEMO}/sensor.csv --checkpoint runs/sensor",
    f"rnnkit anomaly score --checkpoint runs/sensor --data {DEMO}/sensor.csv "
    "--out scores.csv --plot scores.png",
    f"rnnkit anomaly score --checkpoint runs/sensor --data {DEMO}/sensor.csv --online "
    "--update-every 500 --out online.csv",
    f"rnnkit anomaly evaluate --checkpoint runs/sensor --data {DEMO}/sensor.csv",
    f"rnnkit anomaly train --layout sequences --detector reconstruct --data {DEMO}/beats_train.csv "
    "--checkpoint runs/beats",
    f"rnnkit anomaly evaluate --checkpoint runs/beats --data {DEMO}/beats_test.csv",
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "anomaly",
                   help="detect anomalies in a stream or in sequences: train, score, evaluate",
                   epilog=examples(*EXAMPLES))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    _train_parser(actions)
    _use_parser(actions, "score", "score a stream (or sequences) and flag anomalies",
                EXAMPLES[2:4], run_score)
    _use_parser(actions, "evaluate", "precision, recall, F1, ROC-AUC, PR-AUC on labelled data",
                (EXAMPLES[4], EXAMPLES[6]), run_evaluate)
    p.set_defaults(run=lambda args: no_action(p))


def _train_parser(actions) -> None:
    from ..apps.anomaly.config import Config
    from .config_flags import add_config_flags

    t = new_parser(actions, "train", help="learn normal behaviour and save a checkpoint",
                   epilog=examples(EXAMPLES[1], EXAMPLES[5]))
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run stored in --checkpoint")
    add_config_flags(t, Config, skip={"seed", "device"})
    add_common(t)  # with --threads N (checked: a positive integer; default 1)
    t.set_defaults(run=run_train)


def _use_parser(actions, name: str, help: str, lines, run) -> None:
    from dataclasses import fields

    from ..apps.anomaly.config import SCORING, Config
    from .config_flags import add_config_flags

    u = new_parser(actions, name, help=help, epilog=examples(*lines))
    u.add_argument("--checkpoint", required=True, help="folder written by rnnkit anomaly train")
    u.add_argument("--data", required=True, help="the CSV to score (same layout as training)")
    if name == "score":
        u.add_argument("--out", default=None, help="write the scores to this CSV")
        u.add_argument("--plot", default=None, help="write a PNG of the scores")
        u.add_argument("--online", action="store_true",
                       help="score one reading at a time, carrying the state (same numbers)")
    else:
        u.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    add_config_flags(u, Config, skip={f.name for f in fields(Config)} - set(SCORING))
    add_common(u)  # with --threads N (checked: a positive integer; default 1)
    u.set_defaults(run=run)


def _setup(args) -> None:
    if args.threads < 1:
        raise UsageError(f"--threads must be a positive integer, got {args.threads}")
    torch.set_num_threads(args.threads)


def run_train(args) -> int:
    from ..apps import anomaly
    from .config_flags import config_from_args

    _setup(args)
    config = config_from_args(anomaly.Config, args).check()
    history = anomaly.train(config, resume=args.resume)
    if history.already_finished:  # resume of a finished run: its note is said
        return 0
    predictor = anomaly.load(config.checkpoint)
    meta = predictor.meta
    n_cols = len(meta.get("columns", ()))  # a stream's
    what = (f"{meta['learned_rows']} readings of {n_cols} value column{'' if n_cols == 1 else 's'}"
            if config.layout == "stream" else
            f"normal class {meta['normal_label']!r}, sequences of length {meta['length']}")
    print(f"trained a {config.detector} detector on {what}: final loss "
          f"{history.rows[-1]['train_loss']:.4g}; threshold {predictor.threshold:.6g}; "
          f"checkpoint {config.checkpoint}")
    return 0


def _predictor(args):
    from ..apps import anomaly

    _setup(args)
    from ..apps.anomaly.config import SCORING

    settings = {k: getattr(args, k) for k in SCORING if k in vars(args)}
    return anomaly.load(args.checkpoint, device=args.device).configure(**settings)


def run_score(args) -> int:
    from ..apps.anomaly.app import PLOT_SUFFIXES

    out_file(args.out, "--out"), out_file(args.plot, "--plot", PLOT_SUFFIXES)  # before the work
    predictor = _predictor(args)
    frame = predictor.score_file(args.data, out=args.out, plot=args.plot, online=args.online)
    flagged = int(frame["flag"].sum())
    unit = "readings" if predictor.config.layout == "stream" else "sequences"
    wrote = [p for p in (args.out, args.plot) if p]
    print(f"scored {len(frame)} {unit}: {flagged} flagged (threshold "
          f"{predictor.threshold:.6g})" + (f"; wrote {', '.join(wrote)}" if wrote else ""))
    if not args.quiet and flagged:
        first = frame[frame["flag"] == 1].head(10)
        print(first.to_string(index=False))
    return 0


def run_evaluate(args) -> int:
    from ..checkpoint import atomic_write, json_safe

    out_file(args.json, "--json")  # before the work: a folder, or one that cannot be made
    predictor = _predictor(args)
    metrics = predictor.evaluate(args.data)
    if args.json:  # NaN (ROC-AUC of data with one class only) is not JSON: null
        clean = json_safe(metrics)
        atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(clean, indent=1),
                                                           encoding="utf-8"))
    for k, v in metrics.items():
        print(f"{k:16s} {v:.4f}" if isinstance(v, float) else f"{k:16s} {v}")
    return 0
