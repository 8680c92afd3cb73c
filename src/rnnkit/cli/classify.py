"""``rnnkit classify train|predict|evaluate``: label whole sequences, text or numeric.

A thin layer over ``rnnkit.apps.classify``: the training flags are built from its ``Config``;
each action parses, calls the application, prints.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from .common import add_common, examples, new_parser, no_action, out_file
from .config_flags import add_config_flags, config_from_args, flag_name

DATA = "examples/data"  # examples/make_data.py writes these
CKPT_HELP = "checkpoint folder (written by train, read by predict and evaluate)"
SOURCES = ("csv", "text_col", "label_col", "text_files", "ucr", "encoding", "class_names",
           "series_csv", "id_col", "time_col", "feature_cols")
PLOT = "confusion_matrix.png"  # evaluate's plot in the checkpoint folder, without --plot
# what evaluate writes into the checkpoint folder by default: it describes the saved model, so
# a train that saves another one there removes it (files of other names are never touched)
EVALUATION_OUTPUTS = (PLOT,)


def _add_inputs(p, train: bool) -> None:
    g = p.add_argument_group("input (one of --csv, --text-files, --ucr, --series-csv" +
                             ("" if train else ", --text") + ")")
    if not train:
        g.add_argument("--text", action="append", default=None, metavar="TEXT",
                       help="a text to classify (repeat for several)")
    g.add_argument("--csv", metavar="FILE", help="CSV with a header, a text and a label column"
                   + ("" if train else " (predict needs no label column)"))
    g.add_argument("--text-col", metavar="C",
                   help="the CSV's text column" + ("" if train else
                                                   " (default: as in training, where it was "
                                                   "trained from a CSV)"))
    g.add_argument("--label-col", metavar="L",
                   help="the CSV's (or series CSV's) label column" + (
                       "" if train else " (predict needs none; default: as in training, where "
                                        "it was trained from a CSV or series CSV)")
                   + "; with --ucr rows, where each row's label is: first (the archive's "
                     "layout; the default), last, none (predict: unlabelled rows), or its name "
                     "in a header row" + ("" if train else " (default: as in training)"))
    g.add_argument("--text-files", nargs="+", metavar="FILE",
                   help="one text file per class, one example per line; the label is the part "
                        "of the name that differs (pos.txt neg.txt -> pos, neg)")
    g.add_argument("--class-names", nargs="+", metavar="NAME",
                   help="labels for --text-files, in file order (default: from the names)")
    g.add_argument("--ucr", metavar="FILE",
                   help="numeric series from the UCR/UEA archive, in either of its layouts: "
                        "rows of a label, then the values (.tsv, .txt; comma, tab or space "
                        "separated; shorter series padded with trailing NaN), or .ts (@ tags, "
                        "then one series per line, features split by ':', label last; "
                        "multivariate and unequal lengths too)")
    g.add_argument("--series-csv", metavar="FILE",
                   help="numeric series of any lengths with F features per step, long format: "
                        "a header, one row per (series, step): --id-col, --label-col, "
                        "optional --time-col, the feature columns")
    same = "" if train else " (default: as in training, where it was trained from a series CSV)"
    g.add_argument("--id-col", metavar="C", help=f"the series CSV's series-id column{same}")
    g.add_argument("--time-col", metavar="C",
                   help="the series CSV's time column (numbers or dates), ordering each "
                        "series' rows" + (" (default: file order)" if train else same))
    g.add_argument("--feature-cols", metavar="A,B,...",
                   help="the series CSV's feature columns, comma-separated (default: "
                        + ("every other column holding numbers)" if train
                           else "those of training)"))
    g.add_argument("--encoding", default="utf-8",
                   help="encoding of the input files (default utf-8; e.g. latin-1)")
    p.add_argument("--checkpoint", required=True, metavar="DIR", help=CKPT_HELP)


def register(subparsers) -> None:
    p = new_parser(
        subparsers, "classify", help="sequence classification: sentiment, signals, gestures",
        description="Train a recurrent classifier on labelled sequences (texts or numeric "
                    "series), then predict labels or evaluate it.",
        epilog=examples(
            "rnnkit classify train --text-files $RNNKIT_DATA/mr/rt-polarity.pos "
            "$RNNKIT_DATA/mr/rt-polarity.neg --encoding latin-1 --checkpoint runs/mr --ensemble 5",
            f"rnnkit classify train --ucr {DATA}/waves_TRAIN.tsv --checkpoint runs/waves",
            "rnnkit classify predict --checkpoint runs/mr --text \"a gorgeous, witty film\"",
            f"rnnkit classify evaluate --checkpoint runs/waves --ucr {DATA}/waves_TEST.tsv"))
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    _register_train(actions)
    for name, helptext, fn in (
            ("predict", "print the label and class probabilities of each input", run_predict),
            ("evaluate", "accuracy, macro-F1 and confusion matrix on labelled input",
             run_evaluate)):
        _register_use(actions, name, helptext, fn)
    p.set_defaults(run=lambda args: no_action(p))


def _register_train(actions) -> None:
    from ..apps.classify import Config

    t = new_parser(actions, "train", help="train a classifier (or an ensemble) and save it",
                   epilog=examples(
                       f"rnnkit classify train --text-files {DATA}/reviews.pos "
                       f"{DATA}/reviews.neg --epochs 5 --checkpoint runs/reviews",
                       f"rnnkit classify train --csv {DATA}/reviews.csv --text-col text "
                       "--label-col label --checkpoint runs/reviews-csv --pooling attention "
                       "--class-weights balanced",
                       f"rnnkit classify train --ucr {DATA}/waves_TRAIN.tsv "
                       "--checkpoint runs/waves",
                       f"rnnkit classify train --ucr {DATA}/waves_TRAIN.tsv --ensemble 1 "
                       "--checkpoint runs/waves1",
                       f"rnnkit classify train --series-csv {DATA}/motions.csv --id-col series "
                       "--time-col step --label-col gesture --epochs 40 --checkpoint runs/motions",
                       f"rnnkit classify train --text-files {DATA}/reviews.pos "
                       f"{DATA}/reviews.neg --epochs 5 --checkpoint runs/reviews --resume"))
    _add_inputs(t, train=True)
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run stored in --checkpoint")
    from ..apps.classify.config import KIND_DEFAULTS

    add_config_flags(t, Config, skip={"seed"}, group="model and training",
                     shown={name: "by input kind" if text != KIND_DEFAULTS["numeric"][name]
                            else text for name, text in KIND_DEFAULTS["text"].items()})
    add_common(t)
    t.set_defaults(run=run_train)


def _register_use(actions, name: str, helptext: str, fn) -> None:
    a = new_parser(actions, name, help=helptext, epilog=examples(
        ("rnnkit classify predict --checkpoint runs/reviews --text \"what a waste of two hours\""
         if name == "predict" else "rnnkit classify evaluate --checkpoint runs/reviews-csv "
         f"--text-files {DATA}/reviews.pos {DATA}/reviews.neg"),
        f"rnnkit classify {name} --checkpoint runs/reviews --csv {DATA}/reviews.csv"
        + " --text-col text" + (" --out predictions.csv" if name == "predict"
                                else " --label-col label --json report.json"),
        f"rnnkit classify {name} --checkpoint runs/waves --ucr {DATA}/waves_TEST.tsv",
        f"rnnkit classify {name} --checkpoint runs/motions --series-csv {DATA}/motions.csv"))
    _add_inputs(a, train=False)
    if name == "predict":
        a.add_argument("--out", metavar="FILE.csv",
                       help="also write the predictions as CSV (text, label, probabilities)")
    else:
        a.add_argument("--plot", metavar="FILE.png",
                       help=f"confusion-matrix PNG (default: DIR/{PLOT}, removed when train "
                            "saves another model in DIR)")
        a.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    a.add_argument("--batch-size", type=int, default=256, help="inputs per batch (256)")
    add_common(a)
    a.set_defaults(run=fn)


def _sources(args) -> dict:
    return {k: getattr(args, k) for k in SOURCES} | {"texts": getattr(args, "text", None)}


def _typed_flag(name: str) -> str:
    """A setting as the user typed it to differ from its default: ``--no-differences`` for a
    switch on by default, else its flag (``--frontend``, ``--refit``)."""
    from ..apps.classify import Config

    default = next(f.default for f in fields(Config) if f.name == name)
    return flag_name(f"no_{name}") if default is True else flag_name(name)


def _drop_old_evaluation(ckpt: Path) -> None:
    """Remove what ``classify evaluate`` wrote into ``ckpt`` by default (``EVALUATION_OUTPUTS``):
    it described the model this run has just replaced (said, under --quiet too, as the note
    that the model is replaced is). Rank 0 alone (rnnkit launch)."""
    from ..checkpoint import another_rank

    if another_rank():
        return
    for name in EVALUATION_OUTPUTS:
        old = ckpt / name
        if old.is_file():
            old.unlink(missing_ok=True)
            print(f"note: removed {old}, the evaluation of the model this run replaced",
                  file=sys.stderr)


def run_train(args) -> int:
    from ..apps.classify import Config, read_examples, train
    from ..apps.classify.training import other_kind_notes
    from ..training.start_notice import notice_at_start

    config = config_from_args(Config, args, seed=args.seed).check()
    ckpt = Path(args.checkpoint)
    if ckpt.exists() and not ckpt.is_dir():
        raise ValueError(f"--checkpoint {ckpt} exists and is not a folder")
    ex = read_examples(**_sources(args))
    if not args.quiet:
        print(f"classify train: {len(ex)} {ex.kind} examples from {ex.source}")
        # every default resolved for this data: the settings that will train (the checkpoint
        # stores them); numeric sets get five networks up to 1,000 series
        # (the other kind's own settings left out: a numeric run has no vocabulary)
        resolved = config.resolved(ex.kind, len(ex), ex.lengths)
        print("config: " + json.dumps(resolved.read_by(ex.kind)))
    # --ucr: the rows' label place, which predict and evaluate read theirs by
    info = ({"ucr_label": args.label_col} if args.ucr
            else {"text_col": args.text_col, "label_col": args.label_col})
    if args.series_csv:  # predict and evaluate read the same columns by default
        info |= {"id_col": args.id_col, "time_col": args.time_col}
    # the other input kind's settings, named as typed: said once training starts (after
    # every check, even under --quiet), not when it has ended
    for line in other_kind_notes(config, ex.kind, spell=_typed_flag):
        notice_at_start(f"note: {line}")
    history = train(config, ex, ckpt, class_order=args.class_names if args.text_files else None,
                    resume=args.resume, device=args.device, progress=not args.quiet, info=info)
    if history.already_finished:  # resume of a finished run: its note is said
        return 0
    _drop_old_evaluation(ckpt)
    said = other_kind_notes(config, ex.kind)  # history.notes holds them by field name
    for line in history.notes:
        if line not in said:
            print(f"note: {line}", file=sys.stderr)
    prep = history.preprocessing
    vocab = f", vocabulary {prep.tokenizer.vocab_size}" if prep.tokenizer else ""
    val = (f", held-out accuracy {history.val_accuracy:.4f}"
           if history.val_accuracy is not None else "")
    members = history.config.ensemble
    what = f"{members} models" if members > 1 else "one model"
    scaled = f", normalized {prep.normalize}" if prep.kind == "numeric" else ""  # auto's pick
    print(f"trained {what} on {len(ex)} examples, classes {', '.join(prep.labels.classes)}"
          f"{vocab}{scaled}{val} ({history.seconds:.1f} s); saved to {ckpt}/")
    return 0


def _open(args, need_labels: bool):
    from ..apps.classify import load

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer, got {args.batch_size}")
    clf = load(args.checkpoint, device=args.device)
    _check_inputs(args, clf, need_labels)
    return clf, clf.read(need_labels=need_labels, **_sources(args))


def _check_inputs(args, clf, need_labels: bool) -> None:
    """One input, of the classifier's kind, with the columns it needs, before reading: a
    column not given is taken from training where training had one; where it had none (a
    model trained from --text-files or --ucr) the message says so and which flag to pass.
    The inputs listed are what this verb needs (predict: no labels) for this classifier."""
    verb = "evaluate" if need_labels else "predict"
    prep = clf.preprocessing
    info = prep.info or {}
    files = [flag for flag, v in (("--csv", args.csv), ("--text-files", args.text_files),
                                  ("--ucr", args.ucr), ("--series-csv", args.series_csv)) if v]
    if args.text:
        return  # alone or with a file: the reader's own messages
    if len(files) != 1:
        given = f"; got {' and '.join(files)}" if files else ""
        raise ValueError(f"{verb} takes one input; this {prep.kind} classifier reads "
                         f"{_inputs_text(prep.kind, info, need_labels)}{given}")
    kind = "text" if files[0] in ("--csv", "--text-files") else "numeric"
    if kind != prep.kind:
        raise ValueError(f"this classifier reads {prep.kind} sequences, got {kind} input "
                         f"({files[0]}); pass {_inputs_text(prep.kind, info, need_labels)}")
    trained_from = ("--text-files (or texts in Python), not a CSV" if prep.kind == "text"
                    else "--ucr (or arrays in Python), not a series CSV")
    for flag, meta, key, what, needed in (
            ("--text-col", "C", "text_col", "texts", files[0] == "--csv"),
            ("--id-col", "C", "id_col", "series ids", files[0] == "--series-csv"),
            ("--label-col", "L", "label_col", "labels",
             need_labels and files[0] in ("--csv", "--series-csv"))):
        if needed and not getattr(args, key) and not info.get(key):
            raise ValueError(f"{files[0]} needs {flag} {meta} (the column holding the {what}): "
                             f"this model was trained from {trained_from}, so there is no "
                             "column name to reuse")


def _inputs_text(kind: str, info: dict, need_labels: bool) -> str:
    """The inputs ``predict`` (or, with labels, ``evaluate``) takes for a classifier of
    ``kind``; a column training named is reused, and said so, not asked for."""
    def file(form: str, cols) -> str:
        flags = [f" {flag} {meta}" for flag, meta, key in cols if not info.get(key)]
        kept = [repr(info[key]) for _, _, key in cols if info.get(key)]
        return form + "".join(flags) + (
            f" (column{'s' if len(kept) > 1 else ''} {', '.join(kept)} as in training)"
            if kept else "")

    label = [("--label-col", "L", "label_col")] if need_labels else []
    if kind == "text":
        forms = ([] if need_labels else ['--text "..."']) + [
            file("--csv FILE", [("--text-col", "C", "text_col"), *label]),
            "--text-files A.txt B.txt" if need_labels else "--text-files FILE [FILE ...]"]
    else:
        forms = ["--ucr FILE", file("--series-csv FILE", [("--id-col", "C", "id_col"), *label])]
    return ", ".join(forms[:-1]) + " or " + forms[-1]


def _say_lengths(clf, ex) -> None:
    """Series of lengths never seen in training are labelled, with a note (even --quiet)."""
    note = clf.length_note(ex)
    if note:
        print(note, file=sys.stderr)


def run_predict(args) -> int:
    from ..apps.classify.report import prediction_lines, write_predictions

    clf, ex = _open(args, need_labels=False)
    _say_lengths(clf, ex)
    out = out_file(args.out, "--out")  # a folder, or one that cannot be made: before the work
    predictions = clf.predict(ex, batch_size=args.batch_size)
    print("\n".join(prediction_lines(ex, predictions)))
    if out is not None:
        write_predictions(out, ex, predictions)
        if not args.quiet:
            print(f"predictions written to {out}", file=sys.stderr)
    return 0


def run_evaluate(args) -> int:
    from ..apps.classify.report import report_lines, unseen_note, write_report

    plot = out_file(args.plot, "--plot", (".png",)) or Path(args.checkpoint) / PLOT
    json_path = out_file(args.json, "--json")  # a folder is refused before the work
    clf, ex = _open(args, need_labels=True)
    _say_lengths(clf, ex)
    report = clf.evaluate(ex, batch_size=args.batch_size)
    note = unseen_note(report)
    if note:  # a caveat on the figures below: said even with --quiet
        print(note, file=sys.stderr)
    print("\n".join(report_lines(report, ex.source)))
    write_report(report, plot, json_path)
    print(f"confusion matrix plot: {plot}")
    return 0
