"""``rnnkit diagnose``: see vanishing and exploding gradients, on a task or on your model.

Two modes:

- ``--task adding|copy``: train one model per cell on a generated long-dependency task and
  write the gradient-flow plot (‖∂L/∂h_t‖ against t, at initialisation and after training),
  ‖∂h_T/∂h_t‖, learning curves with gradient-norm traces, a markdown table and a JSON dump;
  ``--exploding`` adds a ReLU RNN trained with and without ``clip_norm``.
- ``--checkpoint DIR [--checkpoint DIR ...] --data FILE``: the same analysis for trained
  models saved by ``rnnkit.save`` / ``fit(checkpoint_dir=...)``, one line per checkpoint.

``--data`` formats (the first ``--limit`` sequences are used):

- ``.npz`` with ``x`` (N, T, I) — or ``inputs`` — and optionally ``y`` (targets: the loss
  gradients ‖∂L/∂h_t‖ need them) and ``lengths`` (N,) for right-padded batches (the model is
  then called as ``model(x, lengths)``);
- ``.npy``: inputs only, (N, T, I) (or (N, T) token ids);
- ``.csv``: one sequence, a row per time step and a column per feature (a non-numeric first
  line is taken as a header).

Integer ``x`` is passed as token ids (long), anything else as floats. Without targets the
report shows ‖∂h_T/∂h_t‖, gate saturation and state statistics only. The analysis runs on a
float64 copy of the model, so that gradients that vanish below float32's range still show.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .common import UsageError, add_common, examples, new_parser

DEFAULT_CELLS = "rnn-tanh,irnn,lstm,gru"


def register(subparsers) -> None:
    p = new_parser(
        subparsers, "diagnose",
        help="gradient flow through time: vanishing/exploding gradients, gate saturation",
        description=__doc__.replace("``", ""),
        epilog=examples(
            "rnnkit diagnose --task adding --length 200 --cells rnn-tanh,irnn,lstm,gru "
            "--out report/",
            "rnnkit diagnose --task copy --length 50 --cells lstm,gru --steps 300 --out copy/",
            "rnnkit diagnose --task adding --length 100 --cells lstm --exploding --out rep/",
            "rnnkit diagnose --task adding --length 100 --cells lstm,gru --steps 200 "
            "--save-models --out runs/diagnose",
            "rnnkit diagnose --checkpoint runs/diagnose/models/lstm "
            "--checkpoint runs/diagnose/models/gru --data examples/data/series.csv "
            "--out compare/"))
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--task", help="a generated task: adding or copy")
    source.add_argument("--checkpoint", action="append", metavar="DIR",
                        help="a checkpoint folder (repeat to compare several)")
    p.add_argument("--out", required=True, help="folder for the report, plots and JSON")
    _task_flags(p.add_argument_group("task mode"))
    _checkpoint_flags(p.add_argument_group("checkpoint mode"))
    p.add_argument("--probes", type=int, default=None,
                   help="random probes for ‖∂h_T/∂h_t‖ (default: exact up to H = 64)")
    add_common(p)
    p.set_defaults(run=run, option_defaults={n: p.get_default(n) for n in
                                             TASK_OPTIONS + CHECKPOINT_OPTIONS})


def _task_flags(t) -> None:
    t.add_argument("--length", type=int, default=100,
                   help="T: the adding problem's length / the copy task's delay (default 100)")
    t.add_argument("--cells", default=DEFAULT_CELLS,
                   help=f"comma-separated cells (default {DEFAULT_CELLS}; also rnn-relu)")
    t.add_argument("--steps", type=int, default=1000, help="optimizer steps per cell (1000)")
    t.add_argument("--minutes", type=float, default=1.5,
                   help="time budget for the whole comparison, shared equally by the cells; "
                        "a cell stops early when its share is used (default 1.5; 0 = none)")
    t.add_argument("--hidden-size", type=int, default=64, help="H (default 64)")
    t.add_argument("--batch-size", type=int, default=50, help="sequences per step (50)")
    t.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (3e-3)")
    t.add_argument("--clip-norm", type=float, default=1.0,
                   help="clip the global gradient norm (default 1; 0 = off)")
    t.add_argument("--eval-every", type=int, default=100, help="test every N steps (100)")
    t.add_argument("--exploding", action="store_true",
                   help="also train an IRNN (ReLU) with plain SGD, lr 0.01, with and without "
                        "--clip-norm (exploding.png)")
    t.add_argument("--save-models", action="store_true",
                   help="save each trained model under OUT/models/CELL (rnnkit.save)")


def _checkpoint_flags(c) -> None:
    c.add_argument("--data", help="inputs (and targets): .npz, .npy or .csv (see above)")
    c.add_argument("--loss", default=None,
                   help="mse, mae, huber, cross_entropy, bce (default: cross_entropy for "
                        "integer targets, else mse)")
    c.add_argument("--limit", type=int, default=64, help="sequences analysed (default 64)")


def run(args) -> int:
    say = (lambda *a: None) if args.quiet else print
    if args.task is not None:
        return _run_task(args, say)
    return _run_checkpoints(args, say)


# ------------------------------------------------------------------------------- task mode
def _check_task_args(args) -> tuple[object, list[str]]:
    from ..data.tasks import get_task
    from ..diagnostics.experiment import parse_cells

    task = get_task(args.task)
    cells = parse_cells(args.cells)
    if args.length < 2:
        raise UsageError(f"--length must be at least 2, got {args.length}")
    for name in ("steps", "hidden_size", "batch_size", "eval_every"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, "
                             f"got {getattr(args, name)}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        raise UsageError(f"--lr must be a positive number, got {args.lr}")
    if args.minutes < 0 or not math.isfinite(args.minutes):
        raise UsageError(f"--minutes must be >= 0 (0 = no budget), got {args.minutes}")
    if args.clip_norm < 0 or not math.isfinite(args.clip_norm):
        raise UsageError(f"--clip-norm must be >= 0 (0 = off), got {args.clip_norm}")
    if args.data is not None:
        raise UsageError("--data goes with --checkpoint; --task generates its own data")
    _refuse_other_mode(args, CHECKPOINT_OPTIONS, "--checkpoint")
    if args.exploding and args.clip_norm == 0:
        raise UsageError("--exploding trains with and without clipping at --clip-norm; give "
                         "one above 0")
    return task, cells


# each mode's own options: set (away from their defaults) in the other mode, an error
TASK_OPTIONS = ("length", "cells", "steps", "minutes", "hidden_size", "batch_size", "lr",
                "clip_norm", "eval_every", "exploding", "save_models")
CHECKPOINT_OPTIONS = ("loss", "limit")


def _refuse_other_mode(args, names: tuple, mode: str) -> None:
    given = [n for n in names if getattr(args, n) != args.option_defaults[n]]
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise UsageError(f"{flags} {'goes' if len(given) == 1 else 'go'} with {mode}, not "
                         f"with {'--task' if mode == '--checkpoint' else '--checkpoint'}")


def _run_task(args, say) -> int:
    from ..diagnostics.experiment import compare_cells
    from ..diagnostics.report import write_task_report
    from ..runtime import resolve_device

    task, cells = _check_task_args(args)
    _check_probes(args)
    device = str(resolve_device(args.device))
    out = _prepare_out(args.out)
    budgeted = f"up to {args.steps} steps each ({args.minutes:g} min in all)" if args.minutes \
        else f"{args.steps} steps each"
    say(f"rnnkit diagnose: task {task.name}, T={args.length}, cells {', '.join(cells)}, "
        f"{budgeted}, H={args.hidden_size}, batch {args.batch_size}, "
        f"lr {args.lr:g}, clip_norm {args.clip_norm or 'off'}, seed {args.seed}")
    command = "rnnkit " + " ".join(_argv(args))
    # the analyses before and after training take part of each cell's share
    budget = 60.0 * args.minutes * 0.8 / len(cells) if args.minutes else None

    def partial(done: dict) -> None:  # a report after each cell, so waiting shows something
        if len(done) < len(cells):
            write_task_report(out, task.name, args.length, done, None, command=command)
            say(f"  partial report ({len(done)}/{len(cells)} cells) in {out}")

    results = compare_cells(
        task.name, args.length, cells, steps=args.steps, hidden_size=args.hidden_size,
        batch_size=args.batch_size, lr=args.lr, clip_norm=args.clip_norm or None,
        eval_every=args.eval_every, seed=args.seed, device=device, probes=args.probes, log=say,
        time_budget=budget, on_result=partial)
    exploding = _exploding(args, task, device, say) if args.exploding else None
    if args.save_models:
        _save_models(results, out, task.name, args.length)
    files = write_task_report(out, task.name, args.length, results, exploding,
                              command=command)
    say(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def _exploding(args, task, device, say):
    from ..diagnostics.experiment import exploding_gradients

    return exploding_gradients(task.name, args.length, steps=args.steps,
                               hidden_size=args.hidden_size, batch_size=args.batch_size,
                               clip_norm=args.clip_norm or 1.0, seed=args.seed, device=device,
                               log=say)


def _save_models(results, out: Path, task: str, length: int) -> None:
    from ..checkpoint import save

    for name, r in results.items():
        # "task" is the key applications are known by (rnnkit.open, info, serve): a bare
        # model's trained-on task goes under its own name
        save(r.model, out / "models" / name, extras={"diagnose_task": task, "length": length})


def _argv(args) -> list[str]:
    """The command that repeats this run, every task-mode option as given (a report that
    dropped --hidden-size reran at H 64)."""
    parts = ["diagnose", "--task", args.task, "--length", str(args.length), "--cells",
             args.cells, "--steps", str(args.steps), "--minutes", f"{args.minutes:g}",
             "--hidden-size", str(args.hidden_size), "--batch-size", str(args.batch_size),
             "--lr", f"{args.lr:g}", "--clip-norm", f"{args.clip_norm:g}", "--eval-every",
             str(args.eval_every), "--seed", str(args.seed), "--out", str(args.out)]
    if args.probes is not None:
        parts += ["--probes", str(args.probes)]
    parts += [flag for flag, on in (("--exploding", args.exploding),
                                    ("--save-models", args.save_models)) if on]
    return parts


# ------------------------------------------------------------------------- checkpoint mode
def _run_checkpoints(args, say) -> int:
    from ..checkpoint import load
    from ..diagnostics import analyze, recurrent_layers
    from ..diagnostics.report import write_checkpoint_report

    if args.data is None:
        raise UsageError("--checkpoint needs --data (inputs as .npz, .npy or .csv)")
    _refuse_other_mode(args, TASK_OPTIONS, "--task")
    if args.loss is not None:
        from ..training.losses import LOSSES

        if args.loss not in LOSSES:
            raise UsageError(f"--loss {args.loss!r}: expected one of {', '.join(LOSSES)}")
    if args.limit < 1:
        raise UsageError(f"--limit must be a positive integer, got {args.limit}")
    _check_probes(args)
    for d in args.checkpoint:
        if not Path(d).is_dir():
            raise FileNotFoundError(f"no checkpoint folder {d}")
    x, y, lengths = load_data(args.data, args.limit)
    loss = args.loss or ("cross_entropy" if y is not None and not y.is_floating_point()
                         else "mse")
    diagnoses = {}
    labels = _labels(args.checkpoint)
    for label, d in zip(labels, args.checkpoint, strict=True):
        model = load(d)
        if not recurrent_layers(model):
            raise UsageError(f"checkpoint {d}: {type(model).__name__} has no recurrent layer "
                             "(rnnkit.RNN) to diagnose")
        inputs = x if lengths is None else (x, lengths)
        try:
            diagnoses[label] = analyze(model, inputs, y, loss=loss, probes=args.probes,
                                       float64=True)
        except (ValueError, RuntimeError, TypeError, IndexError) as e:
            raise UsageError(f"checkpoint {d}: {type(model).__name__} rejects --data "
                             f"{args.data} of shape {tuple(x.shape)}: "
                             f"{str(e).strip().splitlines()[0]}") from e
        say(f"{label}: {type(model).__name__}, "
            f"{len(diagnoses[label].layers)} recurrent cell(s) analysed on {len(x)} sequences")
    out = _prepare_out(args.out)
    files = write_checkpoint_report(out, diagnoses, dict(zip(labels, args.checkpoint,
                                                             strict=True)),
                                    data=args.data, loss=loss if y is not None else None)
    say(f"wrote {', '.join(str(f) for f in files)}")
    return 0


def _labels(dirs: list[str]) -> list[str]:
    names = [Path(d).resolve().name or str(d) for d in dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in dirs]
    return names


def load_data(path: str, limit: int | None = None):
    """``(x, y or None, lengths or None)``: see ``rnnkit.diagnostics.data.load_data``."""
    from ..diagnostics.data import load_data as read

    return read(path, limit)


def _check_probes(args) -> None:
    if args.probes is not None and args.probes < 1:
        raise UsageError(f"--probes must be a positive integer, got {args.probes}")


def _prepare_out(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {path} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {path}: cannot make the folder ({e.strerror or e})") from None
    return out


def dump_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=True) + "\n", encoding="utf-8")
