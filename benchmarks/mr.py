"""Movie Review sentence polarity (Pang & Lee 2005): 10-fold cross-validated accuracy of
``rnnkit``'s TextClassifier with randomly initialised embeddings, beside anchors.

    RNNKIT_DATA=../shared/data python benchmarks/mr.py              # 10 folds, one model each
    python benchmarks/mr.py --batch-size 64 --lr 0.002 --word-dropout 0.1 --ensemble 5 \
        --ngram-buckets 1048576                 # the figures in BENCHMARKS.md (~20 min, 2 cores)
    python benchmarks/mr.py --folds 0,1 --epochs 6                  # tune on two folds

Protocol: 10 stratified folds (seed 0). In each, the model trains on 9 folds minus a
stratified 10 % held out for early stopping (validation loss, best epoch restored) and is
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
from pathlib import Path

import numpy as np
import torch

from rnnkit.classify import Examples, predict_proba, train_classifier
from rnnkit.data.classification import LabelEncoder, read_text_files, stratified_folds
from rnnkit.data.tokenizers import WordTokenizer

PUBLISHED = [("CNN-rand (Kim 2014), random embeddings", 76.1),
             ("MNB-bi (Wang & Manning 2012)", 79.0),
             ("NBSVM-bi (Wang & Manning 2012)", 79.4),
             ("CNN-static (Kim 2014), word2vec", 81.0)]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("RNNKIT_DATA", "../shared/data"),
                    help="folder holding mr/rt-polarity.pos and .neg ($RNNKIT_DATA)")
    ap.add_argument("--encoding", default="latin-1",
                    help="the files' encoding (the dataset's documented latin-1)")
    ap.add_argument("--folds", default="all", help="comma-separated fold numbers, or all")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--hidden-size", type=int, default=64)
    ap.add_argument("--embedding-dim", type=int, default=128)
    ap.add_argument("--pooling", default="max")
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--embedding-dropout", type=float, default=0.3)
    ap.add_argument("--word-dropout", type=float, default=0.0)
    ap.add_argument("--min-freq", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ensemble", type=int, default=1,
                    help="train this many models per fold (seeds seed, seed+100, ...) and "
                         "average their probabilities")
    ap.add_argument("--ngram-buckets", type=int, default=0,
                    help="> 0 mixes in the NON-recurrent naive-Bayes n-gram expert (off by "
                         "default); the table then also shows the RNN alone")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    root = Path(args.data) / "mr"
    texts, labels = read_text_files([root / "rt-polarity.pos", root / "rt-polarity.neg"],
                                    encoding=args.encoding)
    y = LabelEncoder().fit(labels).encode(labels).numpy()
    folds = stratified_folds(y, 10, seed=0)
    chosen = range(10) if args.folds == "all" else [int(f) for f in args.folds.split(",")]
    config = {k: v for k, v in vars(args).items() if k not in ("data", "folds", "threads")}
    print(f"MR: {len(texts)} sentences ({(y == 1).sum()} pos, {(y == 0).sum()} neg), "
          f"10 stratified folds; torch threads {torch.get_num_threads()}")
    print("config:", " ".join(f"{k}={v}" for k, v in config.items()))
    print(f"{'fold':>4} {'rnnkit':>8} {'MNB-bi':>8} {'best':>6} {'vocab':>6} "
          f"{'cpu s':>7} {'wall s':>7}"
          + (f" {'RNN only':>8} {'scale':>6}" if args.ngram_buckets else ""))
    ours, anchor, rnn_only, cpu_total, wall_total = [], [], [], 0.0, 0.0

    def pick(idx):
        return [texts[i] for i in idx]

    for f in chosen:
        test = folds[f]
        train = np.setdiff1d(np.arange(len(y)), test)
        c0, w0 = cpu_seconds(), time.perf_counter()
        probs, rnn_probs, epochs, scales = 0.0, 0.0, [], []
        for k in range(args.ensemble):
            trained = train_classifier(
                Examples(texts=pick(train), labels=[labels[i] for i in train]),
                val_fraction=0.1, cell=args.cell, hidden_size=args.hidden_size,
                embedding_dim=args.embedding_dim, pooling=args.pooling, dropout=args.dropout,
                embedding_dropout=args.embedding_dropout, word_dropout=args.word_dropout,
                min_freq=args.min_freq, ngram_buckets=args.ngram_buckets,
                epochs=args.epochs, patience=args.patience,
                batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                seed=args.seed + f + 100 * k, device="cpu", progress=False)
            model, prep = trained.model, trained.preprocessing
            probs = probs + predict_proba(model, prep, Examples(texts=pick(test)))
            epochs.append(str(trained.best_epoch))
            if model.ngrams is not None:  # the same model without the n-gram expert
                scales.append(f"{float(model.ngram_scale):g}")
                model.ngram_scale.fill_(0.0)
                rnn_probs = rnn_probs + predict_proba(model, prep, Examples(texts=pick(test)))
        classes = trained.preprocessing.labels.classes
        truth = np.array([classes.index(labels[i]) for i in test])
        cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
        report = {"accuracy": float((np.argmax(probs, 1) == truth).mean())}
        if scales:
            rnn_only.append(100 * float((np.argmax(rnn_probs, 1) == truth).mean()))
        cpu_total, wall_total = cpu_total + cpu, wall_total + wall
        mnb = float((mnb_bigrams(pick(train), y[train], pick(test)) == y[test]).mean())
        ours.append(100 * report["accuracy"])
        anchor.append(100 * mnb)
        print(f"{f:>4} {ours[-1]:>8.2f} {anchor[-1]:>8.2f} {'+'.join(epochs):>6} "
              f"{trained.preprocessing.tokenizer.vocab_size:>6} {cpu:>7.0f} {wall:>7.0f}"
              + (f" {rnn_only[-1]:>8.2f} {'/'.join(scales):>6}" if scales else ""), flush=True)
    mean, sd = float(np.mean(ours)), float(np.std(ours))
    print(f"mean {mean:>8.2f} {np.mean(anchor):>8.2f}   (rnnkit sd {sd:.2f} over "
          f"{len(ours)} folds); CPU {cpu_total:.0f} s, wall {wall_total:.0f} s for rnnkit")
    print(f"\n  {'accuracy (%)':<50} {'figure':>6}   rnnkit - figure")
    name = f"rnnkit Bi{args.cell.upper()}" + (f" x{args.ensemble}" if args.ensemble > 1 else "")
    rows = [(f"{name} (this run)", mean)]
    if args.ngram_buckets:
        rows = [(f"{name} + NB n-gram expert (this run)", mean),
                (f"{name} alone, same models (this run)", float(np.mean(rnn_only)))]
    rows += [(f"MNB-bi measured here, same {len(ours)} fold(s)", float(np.mean(anchor))),
             *PUBLISHED]
    for name, value in rows:
        print(f"  {name:<50} {value:>6.2f}   {mean - value:+6.2f}")


if __name__ == "__main__":
    main()
