"""Movie Review sentence polarity (Pang & Lee 2005): 10-fold cross-validated accuracy of
``rnnkit``'s text classifier with randomly initialised embeddings, beside anchors.

    RNNKIT_DATA=../shared/data python benchmarks/mr.py              # 10 folds, Config() defaults
    python benchmarks/mr.py --batch-size 64 --lr 0.002 --word-dropout 0.1 --ensemble 5 \
        --ngram-buckets 1048576                 # the 0.1.0 ensemble figures in BENCHMARKS.md
    python benchmarks/mr.py --folds 0,1 --epochs 6 --jobs 2         # tune on two folds
    python benchmarks/mr.py --batch-size 64 --lr 0.002 --word-dropout 0.1 \
        --subword-buckets 16384 --label-smoothing 0.1 --schedule cosine --optimizer adamw \
        --weight-decay 0.01 --ema 0.99 --val-fraction 0 --epochs 4   # one model: 78.10 %

Every ``rnnkit.apps.classify.Config`` field is a flag (``--subword-buckets``,
``--label-smoothing``, ``--ensemble``...). ``--jobs N`` runs folds in N processes of one
torch thread each; the CPU time printed is the sum over them.

Protocol: 10 stratified folds (seed 0). In each, the model trains on 9 folds minus a
stratified 10 % held out for model selection (best held-out accuracy, early stopping) and is
scored on the remaining fold. The vocabulary comes from the training part only.

Anchors: the published figures of Kim (2014, Table 2; CNN-rand, CNN-static) and Wang &
Manning (2012, NBSVM-bi, MNB-bi), and, measured here on the same folds, a multinomial naive
Bayes on unigrams + bigrams (MNB-bi, a few lines of NumPy; not part of the model).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from worker_pool import worker_pool

from rnnkit.apps import classify
from rnnkit.cli.config_flags import add_config_flags, config_from_args
from rnnkit.data.classification import LabelEncoder, read_text_files, stratified_folds
from rnnkit.data.tokenizers import WordTokenizer

PUBLISHED = [("CNN-rand (Kim 2014), random embeddings", 76.1),
             ("MNB-bi (Wang & Manning 2012)", 79.0),
             ("NBSVM-bi (Wang & Manning 2012)", 79.4),
             ("CNN-static (Kim 2014), word2vec", 81.0)]


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the --jobs workers)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def mnb_bigrams(train_texts, train_y, test_texts, alpha: float = 1.0) -> np.ndarray:
    """Multinomial naive Bayes on binarised unigram+bigram counts (Wang & Manning's MNB)."""
    tok = WordTokenizer()

    def grams(text):
        words = tok.tokenize(text)
        return set(words) | {a + " " + b for a, b in zip(words, words[1:], strict=False)}

    counts = [Counter(), Counter()]
    for text, y in zip(train_texts, train_y, strict=True):
        counts[y].update(grams(text))
    vocab = set(counts[0]) | set(counts[1])
    totals = [sum(c.values()) + alpha * len(vocab) for c in counts]
    prior = np.log(np.bincount(train_y, minlength=2) / len(train_y))
    pred = []
    for text in test_texts:
        score = prior.copy()
        for g in grams(text):
            if g in vocab:
                score += [np.log((counts[c][g] + alpha) / totals[c]) for c in (0, 1)]
        pred.append(int(np.argmax(score)))
    return np.array(pred)


def run_fold(config: classify.Config, texts, labels, fold: int, test) -> dict:
    """Train on every fold but ``fold`` (seed + fold), score on ``test``: one table row."""
    torch.set_num_threads(1)
    c0, w0 = cpu_seconds(), time.perf_counter()
    train = np.setdiff1d(np.arange(len(labels)), test)
    config = replace(config, seed=config.seed + fold)
    history = classify.train(config, classify.Examples(
        texts=[texts[i] for i in train], labels=[labels[i] for i in train]),
        device="cpu", progress=False)
    clf = classify.ClassifyPredictor(history.model, config, history.preprocessing)
    test_texts, test_labels = [texts[i] for i in test], [labels[i] for i in test]
    row = {"fold": fold, "accuracy": clf.evaluate(test_texts, test_labels)["accuracy"],
           "best": "+".join(map(str, history.best_epochs)),
           "vocab": history.preprocessing.tokenizer.vocab_size}
    members = getattr(history.model, "members", [history.model])
    if config.ngram_buckets:  # the same models without the n-gram expert
        row["scales"] = "/".join(f"{float(m.ngram_scale):g}" for m in members)
        for m in members:
            m.ngram_scale.fill_(0.0)
        row["rnn_only"] = clf.evaluate(test_texts, test_labels)["accuracy"]
    y = np.array([int(v == "pos") for v in labels])
    row["mnb"] = float((mnb_bigrams([texts[i] for i in train], y[train], test_texts)
                        == y[test]).mean())
    row["cpu"], row["wall"] = cpu_seconds() - c0, time.perf_counter() - w0
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("RNNKIT_DATA", "../shared/data"),
                    help="folder holding mr/rt-polarity.pos and .neg ($RNNKIT_DATA)")
    ap.add_argument("--encoding", default="latin-1",
                    help="the files' encoding (the dataset's documented latin-1)")
    ap.add_argument("--folds", default="all", help="comma-separated fold numbers, or all")
    ap.add_argument("--jobs", type=int, default=1, help="folds trained at once (processes)")
    add_config_flags(ap, classify.Config, group="classifier (rnnkit.apps.classify.Config)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = config_from_args(classify.Config, args).check()

    root = Path(args.data) / "mr"
    texts, labels = read_text_files([root / "rt-polarity.pos", root / "rt-polarity.neg"],
                                    encoding=args.encoding)
    y = LabelEncoder().fit(labels).encode(labels).numpy()
    folds = stratified_folds(y, 10, seed=0)
    chosen = range(10) if args.folds == "all" else [int(f) for f in args.folds.split(",")]
    given = {k: v for k, v in vars(config).items() if v != getattr(classify.Config(), k)}
    print(f"MR: {len(texts)} sentences ({(y == 1).sum()} pos, {(y == 0).sum()} neg), "
          f"10 stratified folds; {args.jobs} job(s) of 1 torch thread")
    print("config (differs from Config()):", " ".join(f"{k}={v}" for k, v in given.items())
          or "none")
    ngram = bool(config.ngram_buckets)
    print(f"{'fold':>4} {'rnnkit':>8} {'MNB-bi':>8} {'best':>9} {'vocab':>6} "
          f"{'cpu s':>7} {'wall s':>7}" + (f" {'RNN only':>8} {'scale':>6}" if ngram else ""))
    c0, w0, rows = cpu_seconds(), time.perf_counter(), []
    with worker_pool(args.jobs) as pool:
        jobs = [pool.submit(run_fold, config, texts, labels, f, folds[f]) for f in chosen]
        for job in jobs:
            r = job.result()
            rows.append(r)
            print(f"{r['fold']:>4} {100 * r['accuracy']:>8.2f} {100 * r['mnb']:>8.2f} "
                  f"{r['best']:>9} {r['vocab']:>6} {r['cpu']:>7.0f} {r['wall']:>7.0f}"
                  + (f" {100 * r['rnn_only']:>8.2f} {r['scales']:>6}" if ngram else ""),
                  flush=True)
    ours = [100 * r["accuracy"] for r in rows]
    mean, sd, anchor = float(np.mean(ours)), float(np.std(ours)), np.mean([r["mnb"] for r in rows])
    print(f"mean {mean:>8.2f} {100 * anchor:>8.2f}   (rnnkit sd {sd:.2f} over {len(ours)} "
          f"folds); CPU {cpu_seconds() - c0:.0f} s (all processes), wall "
          f"{time.perf_counter() - w0:.0f} s")
    print(f"\n  {'accuracy (%)':<50} {'figure':>6}   rnnkit - figure")
    used = config.resolved("text")  # None fields: the text defaults
    name = f"rnnkit Bi{used.cell.upper()}" + (
        f" x{used.ensemble}" if used.ensemble > 1 else " (one model)")
    table = [(f"{name} (this run)", mean)]
    if ngram:
        table = [(f"{name} + NB n-gram expert (this run)", mean),
                 (f"{name} alone, same models (this run)",
                  100 * float(np.mean([r["rnn_only"] for r in rows])))]
    table += [(f"MNB-bi measured here, same {len(ours)} fold(s)", 100 * float(anchor)),
              *PUBLISHED]
    for label, value in table:
        print(f"  {label:<50} {value:>6.2f}   {mean - value:+6.2f}")


if __name__ == "__main__":
    main()
