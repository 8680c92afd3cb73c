"""``rnnkit classify train|predict|evaluate``: label whole sequences, text or numeric.

A thin layer over ``rnnkit.classify``: parse, read and check the input (before anything is
written), call the function, print the result.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from .common import add_common, examples, new_parser

CKPT_HELP = "checkpoint folder (written by train, read by predict and evaluate)"


def _add_inputs(p, train: bool) -> None:
    g = p.add_argument_group("input (one of --csv, --text-files, --ucr" +
                             ("" if train else ", --text") + ")")
    if not train:
        g.add_argument("--text", action="append", default=None, metavar="TEXT",
                       help="a text to classify (repeat for several)")
    g.add_argument("--csv", metavar="FILE", help="CSV with a header, a text and a label column")
    g.add_argument("--text-col", metavar="C",
                   help="the CSV's text column" + ("" if train else " (default: as in training)"))
    g.add_argument("--label-col", metavar="L",
                   help="the CSV's label column" + ("" if train else " (default: as in training)"))
    g.add_argument("--text-files", nargs="+", metavar="FILE",
                   help="one text file per class, one example per line; the label is the part "
                        "of the name that differs (pos.txt neg.txt -> pos, neg)")
    g.add_argument("--class-names", nargs="+", metavar="NAME",
                   help="labels for --text-files, in file order (default: from the names)")
    g.add_argument("--ucr", metavar="FILE",
                   help="numeric series, UCR layout: label, then the values; comma, tab or "
                        "space separated; shorter series padded with trailing NaN")
    g.add_argument("--encoding", default="utf-8",
                   help="encoding of the input files (default utf-8; e.g. latin-1)")


def register(subparsers) -> None:
    p = new_parser(
        subparsers, "classify", help="sequence classification: sentiment, signals, gestures",
        description="Train a recurrent classifier on labelled sequences (texts or numeric "
                    "series), then predict labels or evaluate it.",
        epilog=examples(
            "rnnkit classify train --text-files pos.txt neg.txt --encoding latin-1 "
            "--checkpoint mr-clf",
            "rnnkit classify train --csv reviews.csv --text-col review --label-col sentiment "
            "--checkpoint clf",
            "rnnkit classify train --ucr ECG200_TRAIN.txt --checkpoint ecg --cell gru",
            "rnnkit classify predict --checkpoint mr-clf --text \"a gorgeous, witty film\"",
            "rnnkit classify evaluate --checkpoint ecg --ucr ECG200_TEST.txt"))
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    t = new_parser(actions, "train", help="train a classifier and save it",
                   epilog=examples(
                       "rnnkit classify train --text-files pos.txt neg.txt --checkpoint clf",
                       "rnnkit classify train --csv data.csv --text-col text --label-col label "
                       "--checkpoint clf --pooling attention --class-weights balanced",
                       "rnnkit classify train --ucr Gun_Point_TRAIN.tsv --checkpoint gun"))
    _add_inputs(t, train=True)
    t.add_argument("--checkpoint", required=True, metavar="DIR", help=CKPT_HELP)
    m = t.add_argument_group("model")
    m.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    m.add_argument("--hidden-size", type=int, default=64, help="per direction (default 64)")
    m.add_argument("--embedding-dim", type=int, default=128, help="text only (default 128)")
    m.add_argument("--layers", type=int, default=1, help="stacked layers (default 1)")
    m.add_argument("--unidirectional", action="store_true",
                   help="read forwards only (default: bidirectional)")
    m.add_argument("--pooling", default="max", choices=["last", "mean", "max", "attention"],
                   help="how the outputs become one vector (default max)")
    m.add_argument("--dropout", type=float, default=0.5, help="on the pooled vector (0.5)")
    m.add_argument("--embedding-dropout", type=float, default=0.3,
                   help="on the embedded tokens / input features (0.3)")
    m.add_argument("--word-dropout", type=float, default=0.0,
                   help="text: replace tokens by <unk> with this probability while training")
    m.add_argument("--class-weights", default="none", metavar="W",
                   help="none, balanced, or comma-separated weights in class order")
    d = t.add_argument_group("text")
    d.add_argument("--min-freq", type=int, default=1, help="rarer words become <unk> (1)")
    d.add_argument("--max-vocab", type=int, default=None, help="vocabulary size cap")
    d.add_argument("--max-length", type=int, default=None, help="cut texts to this many tokens")
    d.add_argument("--ngram-buckets", type=int, default=0, metavar="G",
                   help="mix in a non-recurrent naive-Bayes expert on uni+bigrams hashed "
                        "into G buckets (e.g. 1048576), weighted on the held-out part; off "
                        "by default")
    f = t.add_argument_group("training")
    f.add_argument("--epochs", type=int, default=10)
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--weight-decay", type=float, default=0.0)
    f.add_argument("--val-fraction", type=float, default=0.1,
                   help="held out (per class) for early stopping; 0 turns it off (0.1)")
    f.add_argument("--patience", type=int, default=2,
                   help="epochs without validation improvement before stopping (2)")
    add_common(t)
    t.set_defaults(run=run_train)

    for name, helptext, fn in (
            ("predict", "print the label and class probabilities of each input", run_predict),
            ("evaluate", "accuracy, macro-F1 and confusion matrix on labelled input",
             run_evaluate)):
        a = new_parser(actions, name, help=helptext, epilog=examples(
            f"rnnkit classify {name} --checkpoint clf "
            + ("--text \"what a waste of two hours\"" if name == "predict"
               else "--text-files test.pos test.neg"),
            f"rnnkit classify {name} --checkpoint clf --csv test.csv --text-col text"
            + (" --label-col label" if name == "evaluate" else ""),
            f"rnnkit classify {name} --checkpoint ecg --ucr ECG200_TEST.txt"))
        _add_inputs(a, train=False)
        a.add_argument("--checkpoint", required=True, metavar="DIR", help=CKPT_HELP)
        if name == "predict":
            a.add_argument("--out", metavar="FILE.csv",
                           help="also write the predictions as CSV (text, label, probabilities)")
        else:
            a.add_argument("--plot", metavar="FILE.png",
                           help="confusion-matrix PNG (default: DIR/confusion_matrix.png)")
            a.add_argument("--json", metavar="FILE", help="also write the report as JSON")
        a.add_argument("--batch-size", type=int, default=256)
        add_common(a)
        a.set_defaults(run=fn)


# ----------------------------------------------------------------------------- helpers
def _check_positive(args, *names: str) -> None:
    for name in names:
        value = getattr(args, name.replace("-", "_"))
        if value is not None and value < 1:
            raise ValueError(f"--{name} must be a positive integer, got {value}")


def _class_weights(text: str):
    if text in ("none", "balanced"):
        return text
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise ValueError(f"--class-weights must be none, balanced or comma-separated numbers, "
                         f"got {text!r}") from None


def _read(args, prep=None, need_labels: bool = True):
    from ..classify import Examples, read_examples

    texts = getattr(args, "text", None)
    if texts:
        if args.csv or args.text_files or args.ucr:
            raise ValueError("give --text or one input file (--csv, --text-files, --ucr), "
                             "not both")
        if need_labels:
            raise ValueError("evaluate needs labelled input: --csv, --text-files or --ucr")
        return Examples(texts=list(texts), source="--text")
    info = prep.info if prep is not None else {}
    return read_examples(
        csv=args.csv, text_col=args.text_col or info.get("text_col"),
        label_col=args.label_col or (info.get("label_col") if need_labels else None),
        text_files=args.text_files, ucr=args.ucr, encoding=args.encoding,
        class_names=args.class_names, need_labels=need_labels)


# ------------------------------------------------------------------------------ actions
def run_train(args) -> int:
    from ..classify import train_classifier

    _check_positive(args, "hidden-size", "embedding-dim", "layers", "epochs", "batch-size",
                    "min-freq", "max-vocab", "max-length")
    if args.ngram_buckets < 0:
        raise ValueError(f"--ngram-buckets must be 0 (off) or positive, got {args.ngram_buckets}")
    if args.patience is not None and args.patience < 1:
        raise ValueError(f"--patience must be a positive integer, got {args.patience}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must lie in [0, 1), got {args.val_fraction}")
    weights = _class_weights(args.class_weights)
    ckpt = Path(args.checkpoint)
    if ckpt.exists() and not ckpt.is_dir():
        raise ValueError(f"--checkpoint {ckpt} exists and is not a folder")
    ex = _read(args)
    if ex.kind == "numeric" and args.ngram_buckets:
        raise ValueError("--ngram-buckets applies to text input only, not --ucr series")
    config = {k: getattr(args, k) for k in (
        "cell", "hidden_size", "embedding_dim", "layers", "pooling", "dropout",
        "embedding_dropout", "word_dropout", "class_weights", "min_freq", "max_vocab",
        "max_length", "ngram_buckets", "epochs", "batch_size", "lr", "weight_decay",
        "val_fraction", "patience", "seed")}
    config["bidirectional"] = not args.unidirectional
    if not args.quiet:
        print(f"classify train: {len(ex)} {ex.kind} examples from {ex.source}")
        print("config: " + json.dumps(config))
    info = {"text_col": args.text_col, "label_col": args.label_col, "train_config": config}
    trained = train_classifier(
        ex, checkpoint=ckpt, val_fraction=args.val_fraction, cell=args.cell,
        hidden_size=args.hidden_size, embedding_dim=args.embedding_dim, num_layers=args.layers,
        bidirectional=not args.unidirectional, pooling=args.pooling, dropout=args.dropout,
        embedding_dropout=args.embedding_dropout, word_dropout=args.word_dropout,
        class_weights=None if weights == "none" else weights, min_freq=args.min_freq,
        max_vocab=args.max_vocab, max_length=args.max_length, ngram_buckets=args.ngram_buckets,
        class_order=args.class_names if args.text_files else None, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        patience=args.patience, seed=args.seed, device=args.device, progress=not args.quiet,
        info=info)
    prep = trained.preprocessing
    vocab = f", vocabulary {prep.tokenizer.vocab_size}" if prep.tokenizer else ""
    val = (f", held-out accuracy {trained.val_accuracy:.4f}"
           if trained.val_accuracy is not None else "")
    print(f"trained on {len(ex)} examples, classes {', '.join(prep.labels.classes)}{vocab}"
          f"{val} ({trained.seconds:.1f} s); saved to {ckpt}/")
    return 0


def _load(args):
    from ..classify import load_classifier
    from ..runtime import resolve_device

    _check_positive(args, "batch-size")
    return load_classifier(args.checkpoint, device=str(resolve_device(args.device)))


def run_predict(args) -> int:
    from ..classify import predict_labels

    model, prep = _load(args)
    ex = _read(args, prep, need_labels=False)
    if ex.labels is not None:
        prep.labels.encode(ex.labels)  # labels present but never seen in training: refuse
    prep.check(ex)
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise ValueError(f"--out {out} is a folder; expected a CSV file name")
    labels, probs = predict_labels(model, prep, ex, batch_size=args.batch_size)
    classes = prep.labels.classes
    rows = []
    for i, (label, p) in enumerate(zip(labels, probs, strict=True)):
        shown = ex.texts[i] if ex.texts is not None else f"series {i + 1}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        print(f"{label}\t" + " ".join(f"{c}={q:.3f}" for c, q in zip(classes, p, strict=True))
              + f"\t{shown}")
        rows.append([ex.texts[i] if ex.texts is not None else i + 1, label,
                     *[f"{q:.6f}" for q in p]])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text" if ex.texts is not None else "series", "label",
                        *[f"p_{c}" for c in classes]])
            w.writerows(rows)
        if not args.quiet:
            print(f"predictions written to {out}", file=sys.stderr)
    return 0


def run_evaluate(args) -> int:
    from ..classify import evaluate_classifier
    from ..classify_metrics import format_confusion, plot_confusion

    model, prep = _load(args)
    ex = _read(args, prep, need_labels=True)
    prep.dataset(ex)  # labels never seen in training, wrong kind: refuse before writing
    plot = Path(args.plot) if args.plot else Path(args.checkpoint) / "confusion_matrix.png"
    report = evaluate_classifier(model, prep, ex, batch_size=args.batch_size)
    classes = report["classes"]
    print(f"examples: {report['n']} from {ex.source}")
    print(f"accuracy: {report['accuracy']:.4f}")
    print(f"macro-F1: {report['macro_f1']:.4f}")
    print("per-class F1: " + ", ".join(f"{c}={f:.4f}" for c, f in
                                       zip(classes, report["per_class_f1"], strict=True)))
    print("confusion matrix (rows: true, columns: predicted):")
    print(format_confusion(report["confusion"], classes))
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot_confusion(report["confusion"], classes, plot,
                   title=f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
    print(f"confusion matrix plot: {plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0
