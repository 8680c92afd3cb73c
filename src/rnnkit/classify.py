"""Sequence classification end to end: examples in, a saved classifier out, labels back.

The plain functions behind ``rnnkit classify train|predict|evaluate``:

- ``read_examples`` reads one of the three layouts (text CSV, one text file per class,
  UCR numeric series) into ``Examples``;
- ``Preprocessing`` turns examples into model inputs — a ``WordTokenizer`` for text, one
  global mean/std for numeric series — and label strings into ids; it travels in the
  checkpoint's ``extras`` as JSON;
- ``train_classifier`` fits a ``TextClassifier`` with ``rnnkit.fit`` (early stopping on a
  stratified held-out part of the training data) and saves it;
- ``load_classifier``, ``predict_proba``, ``evaluate_classifier`` use a saved one.

Every input check happens before anything is written.

Example:
    >>> ex = read_examples(text_files=["pos.txt", "neg.txt"])
    >>> trained = train_classifier(ex, checkpoint="ckpt", epochs=5)
    >>> model, prep = load_classifier("ckpt")
    >>> labels, probs = predict_labels(model, prep, Examples(texts=["a fine film"]))
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .data.classification import (
    LabelEncoder,
    SequenceDataset,
    balanced_class_weights,
    make_loader,
    read_text_csv,
    read_text_files,
    read_ucr,
    stratified_split,
)
from .data.tokenizers import WordTokenizer
from .models.text_classifier import TextClassifier
from .runtime import seed_everything

__all__ = ["Examples", "read_examples", "Preprocessing", "TrainedClassifier",
           "train_classifier", "load_classifier", "predict_proba", "predict_labels",
           "evaluate_classifier"]

EXTRAS_KEY = "classify"


@dataclass
class Examples:
    """Examples to classify: ``texts``, or numeric ``values`` (N, T[, F]) with ``lengths``.

    ``labels`` (strings, one per example) is None where unknown (prediction).
    """

    texts: list[str] | None = None
    values: np.ndarray | None = None
    lengths: np.ndarray | None = None
    labels: list[str] | None = None
    source: str = ""  # where they came from, for messages

    def __post_init__(self):
        if (self.texts is None) == (self.values is None):
            raise ValueError("Examples: give texts or numeric values, exactly one of them")
        if self.values is not None:
            self.values = np.asarray(self.values, dtype=np.float32)
            if self.values.ndim == 2:
                self.values = self.values[:, :, None]  # (N, T) -> (N, T, 1)
            if self.values.ndim != 3:
                raise ValueError(f"Examples: numeric values must be (N, T) or (N, T, F), got "
                                 f"shape {self.values.shape}")
            if self.lengths is None:
                self.lengths = np.full(len(self.values), self.values.shape[1], dtype=np.int64)
        n = len(self)
        if n == 0:
            raise ValueError(f"no examples{' in ' + self.source if self.source else ''}")
        if self.texts is not None:
            empty = [i for i, t in enumerate(self.texts) if not str(t).strip()]
            if empty:
                raise ValueError(f"empty text (example {empty[0] + 1}"
                                 f"{' of ' + self.source if self.source else ''}); every "
                                 "example needs some text")
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"Examples: {n} examples but {len(self.labels)} labels")

    @property
    def kind(self) -> str:
        return "text" if self.texts is not None else "numeric"

    def __len__(self) -> int:
        return len(self.texts) if self.texts is not None else len(self.values)

    def subset(self, idx) -> Examples:
        idx = np.asarray(idx, dtype=np.int64)

        def pick(xs):
            return [xs[i] for i in idx]

        return Examples(
            texts=pick(self.texts) if self.texts is not None else None,
            values=self.values[idx] if self.values is not None else None,
            lengths=self.lengths[idx] if self.lengths is not None else None,
            labels=pick(self.labels) if self.labels is not None else None, source=self.source)


def read_examples(*, csv: str | os.PathLike | None = None, text_col: str | None = None,
                  label_col: str | None = None, text_files: Sequence | None = None,
                  ucr: str | os.PathLike | None = None, encoding: str = "utf-8",
                  class_names: Sequence[str] | None = None, need_labels: bool = True
                  ) -> Examples:
    """Examples from exactly one source: ``csv`` (+ ``text_col``, ``label_col``),
    ``text_files`` (one per class, labels from the names or ``class_names``), or ``ucr``.

    With ``need_labels=False`` (prediction) a CSV needs only its text column, and text files
    are read as unlabelled examples (one file is enough) unless ``class_names`` label them.
    """
    given = [name for name, v in (("--csv", csv), ("--text-files", text_files),
                                  ("--ucr", ucr)) if v]
    if len(given) != 1:
        raise ValueError("expected exactly one input: --csv FILE --text-col C --label-col L, "
                         "--text-files A.txt B.txt or --ucr FILE"
                         + (f"; got {' and '.join(given)}" if given else ""))
    if csv:
        if not text_col:
            raise ValueError("--csv needs --text-col (the column holding the texts)")
        if need_labels and not label_col:
            raise ValueError("--csv needs --label-col (the column holding the labels)")
        texts, labels = read_text_csv(csv, text_col, label_col, encoding=encoding)
        return Examples(texts=texts, labels=labels, source=str(csv))
    if text_files:
        names = class_names
        if not need_labels and class_names is None:
            names = [f"file{i}" for i in range(len(text_files))]  # placeholders, dropped
        texts, labels = read_text_files(text_files, encoding=encoding, labels=names)
        if names is not class_names:
            labels = None
        return Examples(texts=texts, labels=labels, source=", ".join(map(str, text_files)))
    values, lengths, labels = read_ucr(ucr, encoding=encoding)
    return Examples(values=values, lengths=lengths, labels=labels, source=str(ucr))


@dataclass
class Preprocessing:
    """Examples -> model inputs and labels -> ids; saved as JSON in a checkpoint.

    Text: a ``WordTokenizer`` (optionally cutting texts to ``max_length`` tokens). Numeric:
    values standardised with one mean and std taken over the training steps.
    """

    kind: str
    labels: LabelEncoder
    tokenizer: WordTokenizer | None = None
    max_length: int | None = None
    mean: float = 0.0
    std: float = 1.0
    input_size: int | None = None
    info: dict = field(default_factory=dict)  # e.g. the CSV's column names, for predict

    @classmethod
    def fit(cls, examples: Examples, *, min_freq: int = 1, max_vocab: int | None = None,
            max_length: int | None = None, class_order: Sequence[str] | None = None
            ) -> Preprocessing:
        if examples.labels is None:
            raise ValueError("training needs labelled examples")
        labels = LabelEncoder().fit(examples.labels, order=class_order)
        if examples.kind == "text":
            tok = WordTokenizer(min_freq=min_freq, max_size=max_vocab).fit(examples.texts)
            return cls("text", labels, tokenizer=tok, max_length=max_length)
        steps = np.arange(examples.values.shape[1])[None, :] < examples.lengths[:, None]
        real = examples.values[steps]  # (steps, F)
        mean, std = float(real.mean()), float(real.std())
        return cls("numeric", labels, mean=mean, std=std if std > 0 else 1.0,
                   input_size=int(examples.values.shape[2]))

    def check(self, examples: Examples) -> None:
        """Refuse examples of the other kind, or of another width, before any work."""
        if examples.kind != self.kind:
            hint = "--text or --csv/--text-files" if self.kind == "text" else "--ucr FILE"
            raise ValueError(f"this classifier reads {self.kind} sequences, got "
                             f"{examples.kind} input; pass {hint}")
        if self.kind == "numeric" and examples.values.shape[2] != self.input_size:
            raise ValueError(f"this classifier reads {self.input_size} feature(s) per step, got "
                             f"{examples.values.shape[2]}")

    def dataset(self, examples: Examples, with_labels: bool = True) -> SequenceDataset:
        """A ``SequenceDataset`` of model inputs (and label ids when ``with_labels``)."""
        self.check(examples)
        targets = (self.labels.encode(examples.labels)
                   if with_labels and examples.labels is not None else None)
        if self.kind == "text":
            seqs = [self.tokenizer.encode(t)[: self.max_length] or [self.tokenizer.unk_id]
                    for t in examples.texts]
        else:
            z = (examples.values - self.mean) / self.std
            seqs = [z[i, : examples.lengths[i]] for i in range(len(examples))]
        return SequenceDataset(seqs, targets)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "labels": self.labels.to_dict(),
                "tokenizer": self.tokenizer.to_dict() if self.tokenizer else None,
                "max_length": self.max_length, "mean": self.mean, "std": self.std,
                "input_size": self.input_size, "info": self.info}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        tok = WordTokenizer.from_dict(d["tokenizer"]) if d.get("tokenizer") else None
        return cls(d["kind"], LabelEncoder.from_dict(d["labels"]), tokenizer=tok,
                   max_length=d.get("max_length"), mean=d.get("mean", 0.0),
                   std=d.get("std", 1.0), input_size=d.get("input_size"),
                   info=d.get("info") or {})


@dataclass
class TrainedClassifier:
    model: TextClassifier
    preprocessing: Preprocessing
    history: object  # rnnkit.fit's History
    val_accuracy: float | None  # of the kept weights, on the held-out examples
    best_epoch: int | None  # the epoch whose weights were kept (None: the last)
    seconds: float


class _KeepBest:
    """A ``fit`` callback: keep the weights of the epoch with the best held-out accuracy
    (ties: the lower held-out loss) and stop after ``patience`` epochs without a better one.

    Accuracy rather than loss: a classifier's held-out loss often turns up (growing
    over-confidence) while its accuracy still improves."""

    def __init__(self, patience: int | None):
        self.patience, self.best, self.weights, self.epoch, self.bad = patience, None, None, None, 0

    def __call__(self, event: str, info: dict):
        if event != "epoch_end" or info.get("val_accuracy") is None:
            return None
        key = (info["val_accuracy"], -info["val_loss"])
        if self.best is None or key > self.best:
            self.best, self.epoch, self.bad = key, info["epoch"], 0
            self.weights = {k: t.detach().clone() for k, t in info["model"].state_dict().items()}
        else:
            self.bad += 1
        return self.patience is not None and self.bad >= self.patience


def train_classifier(examples: Examples, *, checkpoint: str | os.PathLike | None = None,
                     val_examples: Examples | None = None, val_fraction: float = 0.1,
                     cell: str = "lstm", hidden_size: int = 64, embedding_dim: int = 128,
                     num_layers: int = 1, bidirectional: bool = True, pooling: str = "max",
                     dropout: float = 0.5, embedding_dropout: float = 0.3,
                     word_dropout: float = 0.0, ngram_buckets: int = 0, ngram_order: int = 2,
                     class_weights: str | Sequence[float] | None = None,
                     min_freq: int = 1, max_vocab: int | None = None,
                     max_length: int | None = None, class_order: Sequence[str] | None = None,
                     epochs: int = 10, batch_size: int = 32, lr: float = 1e-3,
                     weight_decay: float = 0.0, patience: int | None = 2, seed: int = 0,
                     device: str = "auto", progress: bool = True,
                     time_budget: float | None = None, info: dict | None = None
                     ) -> TrainedClassifier:
    """Fit a ``TextClassifier`` on ``examples`` and (with ``checkpoint``) save it.

    Model selection watches the accuracy on ``val_examples`` or, failing those, on a
    stratified ``val_fraction`` of the training examples (0 disables it): the best epoch's
    weights are kept, and training stops after ``patience`` epochs without improvement.
    ``class_weights``: None, ``"balanced"`` (``N / (C * count)``) or one weight per class in
    class order. ``ngram_buckets > 0`` (text) adds the non-recurrent naive-Bayes n-gram
    expert: after the RNN is trained, the n-grams of the training part are counted and the
    expert's weight ``ngram_scale`` is the one of ``NGRAM_SCALES`` with the best held-out
    accuracy (ties: the lower cross-entropy; 1 without held-out data). Returns the model,
    its preprocessing and history.
    """
    from . import fit  # the training loop; imported late so the data side loads without it
    from .checkpoint import save

    if examples.labels is None:
        raise ValueError("training needs labelled examples")
    prep = Preprocessing.fit(examples, min_freq=min_freq, max_vocab=max_vocab,
                             max_length=max_length, class_order=class_order)
    prep.info = dict(info or {})
    y = prep.labels.encode(examples.labels).numpy()
    if val_examples is None and val_fraction > 0:
        keep, held = stratified_split(y, val_fraction, seed=seed)
        if len(held) and len(keep):
            examples, val_examples = examples.subset(keep), examples.subset(held)
    train_set = prep.dataset(examples)
    val_set = prep.dataset(val_examples) if val_examples is not None else None  # checks labels
    C = prep.labels.num_classes
    if isinstance(class_weights, str):
        if class_weights not in ("balanced", "none"):
            raise ValueError(f"class weights must be 'balanced', 'none' or {C} numbers, got "
                             f"{class_weights!r}")
        class_weights = (balanced_class_weights(train_set.targets, C)
                         if class_weights == "balanced" else None)
    seed_everything(seed)  # the initial weights
    model = TextClassifier(
        prep.input_size, hidden_size, C,
        vocab_size=prep.tokenizer.vocab_size if prep.kind == "text" else None,
        embedding_dim=embedding_dim, cell=cell, num_layers=num_layers,
        bidirectional=bidirectional, pooling=pooling, dropout=dropout,
        embedding_dropout=embedding_dropout, word_dropout=word_dropout,
        class_weights=list(class_weights) if class_weights is not None else None,
        ngram_buckets=ngram_buckets, ngram_order=ngram_order)
    keep_best = _KeepBest(patience)
    start = time.perf_counter()
    history = fit(model, make_loader(train_set, batch_size, shuffle=True, seed=seed),
                  val_data=make_loader(val_set, 256) if val_set is not None else None,
                  epochs=epochs, loss=model.loss, lr=lr, weight_decay=weight_decay,
                  metrics=("accuracy",), callbacks=(keep_best,), seed=seed, device=device,
                  progress=progress, time_budget=time_budget, checkpoint_dir=checkpoint,
                  extras={EXTRAS_KEY: prep.to_dict()})
    seconds = time.perf_counter() - start
    if keep_best.weights is not None:
        model.load_state_dict(keep_best.weights)
    model.eval()
    val_acc = float(keep_best.best[0]) if keep_best.best is not None else None
    if model.ngrams is not None:  # counted even without held-out data (then weighted 1)
        val_acc = _add_ngram_expert(model, train_set, val_set)
    if checkpoint is not None:  # fit saved the last epoch; this is the kept one
        save(model, checkpoint, extras={EXTRAS_KEY: prep.to_dict()})
    return TrainedClassifier(model, prep, history, val_acc, keep_best.epoch, seconds)


NGRAM_SCALES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)


@torch.no_grad()
def _add_ngram_expert(model: TextClassifier, train_set: SequenceDataset,
                      val_set: SequenceDataset | None) -> float | None:
    """Count the naive-Bayes n-grams on ``train_set``; pick ``ngram_scale`` on ``val_set``.
    Returns the held-out accuracy of the mixed model (None without held-out data)."""
    device = model.ngram_scale.device
    model.ngrams.fit((x, lengths, t) for (x, lengths), t in make_loader(train_set, 1024))
    if val_set is None:
        model.ngram_scale.fill_(1.0)
        return None
    rnn, nb = [], []
    model.ngram_scale.fill_(0.0)
    for (x, lengths), _ in make_loader(val_set, 256):
        x = x.to(device)
        rnn.append(model(x, lengths).double())
        nb.append(model.ngrams(x, lengths).double())
    rnn, nb, y = torch.cat(rnn), torch.cat(nb), val_set.targets.to(device)
    # by held-out accuracy, ties to the lower cross-entropy: naive Bayes sums one log-ratio per
    # n-gram and is over-confident, so the loss alone picks a scale near 0 and wastes the
    # expert (MR folds 0-2: 75.4 % by loss, 77.7 % by accuracy; RNN 75.4, NB 77.2)
    mixed = [rnn + s * nb for s in NGRAM_SCALES]
    keys = [((m.argmax(1) == y).double().mean().item(), -F.cross_entropy(m, y).item())
            for m in mixed]
    best = max(range(len(NGRAM_SCALES)), key=keys.__getitem__)
    model.ngram_scale.fill_(NGRAM_SCALES[best])
    return float(keys[best][0])


def load_classifier(checkpoint: str | os.PathLike, device: str = "cpu"
                    ) -> tuple[TextClassifier, Preprocessing]:
    """The model and preprocessing saved by ``train_classifier``."""
    from .checkpoint import load, load_extras

    extras = load_extras(checkpoint)
    if EXTRAS_KEY not in extras:
        raise ValueError(f"{checkpoint} holds no classifier (it was not written by rnnkit "
                         "classify train)")
    model = load(checkpoint, device=device)
    if not isinstance(model, TextClassifier):
        raise ValueError(f"{checkpoint} holds a {type(model).__name__}, not a TextClassifier")
    return model, Preprocessing.from_dict(extras[EXTRAS_KEY])


@torch.no_grad()
def _probs(model: TextClassifier, dataset: SequenceDataset, batch_size: int = 256) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = []
    for (x, lengths), _ in make_loader(dataset, batch_size):
        out.append(torch.softmax(model(x.to(device), lengths), dim=-1).cpu())
    return torch.cat(out).double().numpy()


def predict_proba(model: TextClassifier, prep: Preprocessing, examples: Examples,
                  batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C), columns in ``prep.labels.classes`` order."""
    return _probs(model, prep.dataset(examples, with_labels=False), batch_size)


def predict_labels(model: TextClassifier, prep: Preprocessing, examples: Examples,
                   batch_size: int = 256) -> tuple[list[str], np.ndarray]:
    """The most probable label of each example and the (N, C) probabilities."""
    probs = predict_proba(model, prep, examples, batch_size)
    return prep.labels.decode(probs.argmax(1)), probs


def evaluate_classifier(model: TextClassifier, prep: Preprocessing, examples: Examples,
                        batch_size: int = 256) -> dict:
    """Accuracy, macro-F1, per-class F1 and the confusion matrix on labelled examples."""
    from .classify_metrics import classification_report

    if examples.labels is None:
        raise ValueError("evaluation needs labelled examples")
    dataset = prep.dataset(examples)  # refuses labels never seen in training
    probs = _probs(model, dataset, batch_size)
    report = classification_report(dataset.targets.numpy(), probs.argmax(1),
                                   prep.labels.classes)
    nll = -np.log(np.clip(probs[np.arange(len(probs)), dataset.targets.numpy()], 1e-12, 1))
    report["cross_entropy"] = float(nll.mean()) if math.isfinite(nll.mean()) else None
    return report
