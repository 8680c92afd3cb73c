"""Classification inputs: ``Examples`` read from a CSV, text files, UCR series or a long-format
series CSV, and the ``Preprocessing`` that turns them into model inputs (saved in a checkpoint
as JSON).

- ``read_examples`` reads one of the four layouts (text CSV, one text file per class,
  UCR numeric series, multivariate series in long format) into ``Examples``;
- ``Preprocessing`` turns examples into model inputs and label strings into ids. Text: a
  ``WordTokenizer`` (and, with ``subword_buckets``, each token's hashed character n-grams).
  Numeric: ``normalize="global"`` scales each feature by one mean/std taken over the
  training steps, so a series' level and amplitude still reach the model; ``"series"``
  z-normalises each series by its own mean and std per feature (the UCR archive's
  convention: shapes, not offsets — it lost JapaneseVowels, whose channel levels carry the
  class, 79.5 % against 98.9 % with "global"; BENCHMARKS.md, UCR/UEA); ``"none"`` leaves
  the values. The default, ``"auto"``, is "global" unless the series' sizes differ by
  orders of magnitude (``SCALE_SPREAD``: PLAID's appliances, where "global" left the small
  ones flat, 38.55 % against 90.88 with "series"), then "series".

Every check happens before anything is written.

Example:
    >>> ex = read_examples(text_files=["pos.txt", "neg.txt"])
    >>> prep = Preprocessing.fit(ex, min_freq=2)
    >>> dataset = prep.dataset(ex)            # SequenceDataset for make_loader / fit
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...data.classification import (
    LabelEncoder,
    SequenceDataset,
    read_series_csv,
    read_text_csv,
    read_text_files,
    subword_ids,
)
from ...data.tokenizers import UNK, WordTokenizer
from ...data.ts_file import read_archive

__all__ = ["Examples", "read_examples", "Preprocessing", "NORMALIZATIONS"]

# what a Config may ask for; "auto" is resolved by Preprocessing.fit, which saves the result
NORMALIZATIONS = ("auto", "global", "series", "none")
# "auto": "series" where, for some feature, the training series' own standard deviations span
# more than this (95th over 5th percentile), else "global". On the 13 UCR/UEA sets of
# benchmarks/ucr.py the spread is 1-82 except PLAID's 675,870 (appliances drawing 0.02 A to
# 300 A), where one global std squashes the small ones to flat lines (BENCHMARKS.md, UCR/UEA)
SCALE_SPREAD = 1000.0


@dataclass
class Examples:
    """Examples to classify: ``texts``, or numeric ``values`` (N, T[, F]) with ``lengths``.

    ``labels`` (strings, one per example) is None where unknown (prediction). Series read
    from a long-format CSV also carry their ``ids`` and the names of their F ``features``.
    """

    texts: list[str] | None = None
    values: np.ndarray | None = None
    lengths: np.ndarray | None = None
    labels: list[str] | None = None
    source: str = ""  # where they came from, for messages
    ids: list[str] | None = None  # a name per example (--series-csv: the --id-col values)
    features: list[str] | None = None  # numeric: the F feature (column) names, when known

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
        if self.ids is not None and len(self.ids) != n:
            raise ValueError(f"Examples: {n} examples but {len(self.ids)} ids")
        if self.features is not None and (self.values is None
                                          or len(self.features) != self.values.shape[2]):
            width = "text" if self.values is None else f"{self.values.shape[2]} features"
            raise ValueError(f"Examples: {len(self.features)} feature names for {width}")
        if self.values is not None:
            self._check_finite()

    def _check_finite(self) -> None:
        """NaN or inf in a series' own steps (padding past its length may be anything):
        refused here, not trained on (the feature means would be NaN)."""
        steps = np.arange(self.values.shape[1])[None, :] < np.asarray(self.lengths)[:, None]
        bad = ~np.isfinite(self.values) & steps[:, :, None]
        if bad.any():
            i, t, f = np.argwhere(bad)[0]
            raise ValueError(f"Examples: example {i + 1}"
                             f"{' of ' + self.source if self.source else ''}, step {t + 1}, "
                             f"feature {f + 1} is {float(self.values[i, t, f])!r}; numeric "
                             "values must be finite (and within float32's range)")

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
            labels=pick(self.labels) if self.labels is not None else None, source=self.source,
            ids=pick(self.ids) if self.ids is not None else None, features=self.features)


def read_examples(*, csv: str | os.PathLike | None = None, text_col: str | None = None,
                  label_col: str | None = None, text_files: Sequence | None = None,
                  ucr: str | os.PathLike | None = None, texts: Sequence[str] | None = None,
                  series_csv: str | os.PathLike | None = None, id_col: str | None = None,
                  time_col: str | None = None, feature_cols: Sequence[str] | str | None = None,
                  encoding: str = "utf-8", class_names: Sequence[str] | None = None,
                  need_labels: bool = True) -> Examples:
    """Examples from exactly one source: ``csv`` (+ ``text_col``, ``label_col``),
    ``text_files`` (one per class, labels from the names or ``class_names``), ``ucr`` (rows
    of a label and the values, ``label_col`` placing the label: first, last, none or a
    header's name; or a ``.ts`` file),
    ``series_csv`` (long format, one row per step: ``id_col``, ``label_col``, optional
    ``time_col`` and ``feature_cols``; see ``read_series_csv``), or ``texts`` (unlabelled,
    for prediction).

    With ``need_labels=False`` (prediction) a CSV needs only its text column, a series CSV
    only its id column, and text files are read as unlabelled examples (one file is enough)
    unless ``class_names`` label them.
    """
    if texts:
        if csv or text_files or ucr or series_csv:
            raise ValueError("give --text or one input file (--csv, --text-files, --ucr, "
                             "--series-csv), not both")
        if need_labels:
            raise ValueError("evaluate needs labelled input: --csv, --text-files or --ucr, "
                             "or --series-csv with --label-col")
        return Examples(texts=list(texts), source="--text")
    given = [name for name, v in (("--csv", csv), ("--text-files", text_files),
                                  ("--ucr", ucr), ("--series-csv", series_csv)) if v]
    if len(given) != 1:
        raise ValueError("expected exactly one input: --csv FILE --text-col C --label-col L, "
                         "--text-files A.txt B.txt, --ucr FILE or --series-csv FILE --id-col C "
                         "--label-col L" + (" (or --text \"...\" to predict)" if not need_labels
                                            else "")
                         + (f"; got {' and '.join(given)}" if given else ""))
    if series_csv:
        if isinstance(feature_cols, str):  # the CLI's "a,b,c"
            feature_cols = [c.strip() for c in feature_cols.split(",")]
            if not all(feature_cols):
                raise ValueError("--feature-cols: expected column names separated by commas, "
                                 "got an empty name")
        if not id_col:
            raise ValueError("--series-csv needs --id-col (the column naming each series)")
        if need_labels and not label_col:
            raise ValueError("--series-csv needs --label-col (the column holding the labels)")
        table = read_series_csv(series_csv, id_col, label_col, time_col=time_col,
                                feature_cols=feature_cols, encoding=encoding)
        return Examples(values=table.values, lengths=table.lengths, labels=table.labels,
                        source=str(series_csv), ids=table.ids, features=table.features)
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
    if need_labels and label_col == "none":
        raise ValueError("--label-col none reads rows without labels; training and evaluate "
                         "need them (first, last, or the label column's header name)")
    # label-then-values rows (or as label_col places it), or .ts
    table = read_archive(ucr, encoding=encoding, label=label_col)
    if need_labels and table.labels is None:
        raise ValueError(f"{ucr} has no class labels (@classLabel false); training and "
                         "evaluate need them")
    return Examples(values=table.values, lengths=table.lengths, labels=table.labels,
                    source=str(ucr))


@dataclass
class Preprocessing:
    """Examples -> model inputs and labels -> ids; saved as JSON in a checkpoint.

    Text: a ``WordTokenizer`` (optionally cutting texts to ``max_length`` tokens; with
    ``subword_buckets`` each token's row also holds its hashed character n-grams). Numeric:
    ``normalize`` "series" (each series by its own mean and std per feature), "global" (one
    mean and std per feature, taken over the training steps) or "none"; ``fit`` resolves
    "auto" to global or, where the series' sizes differ by orders of magnitude
    (``SCALE_SPREAD``), series, and saves what it chose.
    """

    kind: str
    labels: LabelEncoder
    tokenizer: WordTokenizer | None = None
    max_length: int | None = None
    mean: float | list[float] = 0.0  # "global": per feature (0.1.0: one number)
    std: float | list[float] = 1.0
    input_size: int | None = None
    subword_buckets: int = 0  # > 0: each token also carries its hashed character n-grams
    normalize: str = "global"  # numeric: series | global | none (0.1.0 checkpoints: global)
    info: dict = field(default_factory=dict)  # e.g. the CSV's column names, for predict
    features: list[str] | None = None  # numeric: the feature columns trained on, when named
    lengths: list[int] | None = None  # numeric: the shortest and longest training series

    @classmethod
    def fit(cls, examples: Examples, *, min_freq: int = 1, max_vocab: int | None = None,
            max_length: int | None = None, class_order: Sequence[str] | None = None,
            subword_buckets: int = 0, normalize: str = "auto") -> Preprocessing:
        if examples.labels is None:
            raise ValueError("training needs labelled examples")
        labels = LabelEncoder().fit(examples.labels, order=class_order)
        if examples.kind == "text":
            tok = WordTokenizer(min_freq=min_freq, max_size=max_vocab).fit(examples.texts)
            return cls("text", labels, tokenizer=tok, max_length=max_length,
                       subword_buckets=subword_buckets)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got "
                             f"{normalize!r}")
        steps = np.arange(examples.values.shape[1])[None, :] < examples.lengths[:, None]
        real = examples.values[steps]  # (steps, F)
        mean, std = real.mean(0), real.std(0)
        if normalize == "auto":
            normalize = "series" if _size_spread(examples, std) > SCALE_SPREAD else "global"
        return cls("numeric", labels, mean=mean.tolist(), std=np.where(std > 0, std, 1).tolist(),
                   input_size=int(examples.values.shape[2]), normalize=normalize,
                   features=list(examples.features) if examples.features else None,
                   lengths=[int(examples.lengths.min()), int(examples.lengths.max())])

    def check(self, examples: Examples) -> None:
        """Refuse examples of the other kind, or of another width, before any work."""
        if examples.kind != self.kind:
            hint = ("--text or --csv/--text-files" if self.kind == "text"
                    else "--ucr FILE or --series-csv FILE")
            raise ValueError(f"this classifier reads {self.kind} sequences, got "
                             f"{examples.kind} input; pass {hint}")
        if self.kind != "numeric":
            return
        trained = f" ({', '.join(self.features)})" if self.features else ""
        if examples.values.shape[2] != self.input_size:
            raise ValueError(f"this classifier reads {self.input_size} feature(s) per step"
                             f"{trained}, got {examples.values.shape[2]}")
        if self.features and examples.features and list(examples.features) != self.features:
            raise ValueError(f"this classifier reads the features {', '.join(self.features)} "
                             f"(in this order), got {', '.join(examples.features)}")

    def length_note(self, examples: Examples, downsample: int = 1) -> str | None:
        """One line on the series longer or shorter than any in training (the model reads
        them at the training's time scale, and was never shown such lengths), or None.
        ``downsample``: the model's averaging (PAA) of every d steps; a series it averages
        to as many steps as a training series had is not outside."""
        if self.kind != "numeric" or not self.lengths or not len(examples):
            return None
        (low, high), n = self.lengths, np.asarray(examples.lengths)
        d = max(1, int(downsample))
        steps = -(-n // d)  # what the model reads: ceil(n / d) averaged steps
        parts = []
        for outside, than, limit in ((steps > -(-high // d), "longer than the longest", high),
                                     (steps < -(-low // d), "shorter than the shortest", low)):
            if outside.any():
                these = n[outside]
                span = (f"{these.min()}" if these.min() == these.max()
                        else f"{these.min()}-{these.max()}")
                count = int(outside.sum())
                parts.append(f"{count} of {len(n)} series {'is' if count == 1 else 'are'} "
                             f"{than} in training ({limit} steps; "
                             f"{'it has' if count == 1 else 'these have'} {span})")
        if not parts:
            return None
        return (f"note: {'; '.join(parts)}; the model never saw series of these lengths, so "
                "their labels are less sure")

    def dataset(self, examples: Examples, with_labels: bool = True) -> SequenceDataset:
        """A ``SequenceDataset`` of model inputs (and label ids when ``with_labels``)."""
        self.check(examples)
        targets = (self.labels.encode(examples.labels)
                   if with_labels and examples.labels is not None else None)
        if self.kind == "text" and self.subword_buckets:
            seqs = [self._with_subwords(t) for t in examples.texts]
        elif self.kind == "text":
            seqs = [self.tokenizer.encode(t)[: self.max_length] or [self.tokenizer.unk_id]
                    for t in examples.texts]
        else:
            seqs = [self.scale(examples.values[i, : examples.lengths[i]])
                    for i in range(len(examples))]
        return SequenceDataset(seqs, targets)

    def scale(self, series: np.ndarray) -> np.ndarray:
        """One series (T, F) normalised as ``normalize`` says."""
        if self.normalize == "series":
            std = series.std(0)
            return (series - series.mean(0)) / np.where(std > 1e-8, std, 1)
        if self.normalize == "global":
            return (series - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return series

    def _with_subwords(self, text: str) -> np.ndarray:
        """(T, 1 + K) ids: each token's word id, then its character n-gram ids."""
        tok, cache = self.tokenizer, self.__dict__.setdefault("_subword_cache", {})
        words = tok.tokenize(text)[: self.max_length] or [UNK]
        rows = []
        for w in words:
            if w not in cache:
                cache[w] = [tok.stoi.get(w, tok.unk_id), *subword_ids(w, self.subword_buckets)]
            rows.append(cache[w])
        return np.asarray(rows, dtype=np.int64)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "labels": self.labels.to_dict(),
                "tokenizer": self.tokenizer.to_dict() if self.tokenizer else None,
                "max_length": self.max_length, "mean": self.mean, "std": self.std,
                "input_size": self.input_size, "info": self.info,
                "subword_buckets": self.subword_buckets, "normalize": self.normalize,
                # only when named: older checkpoints (and resume states) stay as they were
                **({"features": list(self.features)} if self.features else {}),
                **({"lengths": list(self.lengths)} if self.lengths else {})}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        """Rebuild one saved with ``to_dict``; ``ValueError`` naming the first malformed field."""
        _check_saved(d)
        tok = WordTokenizer.from_dict(d["tokenizer"]) if d.get("tokenizer") is not None \
            else None
        return cls(d["kind"], LabelEncoder.from_dict(d.get("labels")), tokenizer=tok,
                   max_length=d.get("max_length"), mean=d.get("mean", 0.0),
                   std=d.get("std", 1.0), input_size=d.get("input_size"),
                   info=d.get("info") or {}, subword_buckets=d.get("subword_buckets", 0),
                   normalize=d.get("normalize", "global"), features=d.get("features"),
                   lengths=d.get("lengths"))


def _size_spread(examples: Examples, std: np.ndarray) -> float:
    """The largest, over the features, 95th / 5th percentile of the series' own stds (each
    floored at 1e-6 of the std over all steps, so flat series count as small, not as 0)."""
    floor = 1e-6 * np.where(std > 0, std, 1).astype(np.float64)
    sizes = np.stack([np.maximum(examples.values[i, : examples.lengths[i]].std(0), floor)
                      for i in range(len(examples))])  # (N, F)
    low, high = np.percentile(sizes, [5, 95], axis=0)
    return float((high / low).max())


def _check_saved(d) -> None:
    """The fields of a saved ``Preprocessing`` (hand-edited extras are refused, issue 14)."""
    def bad(field: str, value, expected: str):
        raise ValueError(f"Preprocessing.from_dict: {field} is {value!r:.60}; expected {expected}")

    def whole(v, low: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= low

    def numbers(v, positive: bool) -> bool:
        vs = v if isinstance(v, list) and v else [v]
        return all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                   and (x > 0 or not positive) for x in vs)

    if not isinstance(d, dict):
        bad("the preprocessing", d, "a dict")
    kind = d.get("kind")
    if kind not in ("text", "numeric"):
        bad("kind", kind, "'text' or 'numeric'")
    if kind == "text" and not isinstance(d.get("tokenizer"), dict):
        bad("tokenizer", d.get("tokenizer"), "a tokenizer table for a text classifier")
    if kind == "numeric" and not whole(d.get("input_size"), 1):
        bad("input_size", d.get("input_size"), "a positive whole number of features")
    if d.get("max_length") is not None and not whole(d["max_length"], 1):
        bad("max_length", d["max_length"], "a positive whole number or null")
    if not whole(d.get("subword_buckets", 0), 0):
        bad("subword_buckets", d.get("subword_buckets"), "a whole number >= 0")
    if d.get("normalize", "global") not in ("series", "global", "none"):
        bad("normalize", d.get("normalize"), "series, global or none")
    if not numbers(d.get("mean", 0.0), False):
        bad("mean", d.get("mean"), "finite numbers")
    if not numbers(d.get("std", 1.0), True):
        bad("std", d.get("std"), "positive finite numbers")
    if not isinstance(d.get("info") or {}, dict):
        bad("info", d.get("info"), "a dict")
    names = d.get("features")
    if names is not None and (kind != "numeric" or not isinstance(names, list)
                              or len(names) != d.get("input_size")
                              or not all(isinstance(n, str) and n for n in names)):
        bad("features", names, "null or one feature name per input feature (input_size)")
    span = d.get("lengths")
    if span is not None and (kind != "numeric" or not isinstance(span, list) or len(span) != 2
                             or not all(whole(v, 1) for v in span) or span[0] > span[1]):
        bad("lengths", span, "null or [shortest, longest] training series, whole steps >= 1")
