"""A saved classifier (one model or an ensemble) ready to label texts or numeric series."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import torch

from ...checkpoint import CheckpointError, load_extras
from ...data.classification import make_loader
from ...data.csv_table import FLOAT32_MAX
from ...runtime import check_memory
from ..base import Predictor
from ..extras_check import check_size, reading_extras
from .config import Config
from .inputs import Examples, Preprocessing, read_examples
from .training import EXTRAS_KEY, TASK

__all__ = ["ClassifyPredictor", "load"]

# 0.1.0 stored the CLI's settings under other names in extras["classify"]["info"]
_LEGACY_NAMES = {"layers": "num_layers"}


class ClassifyPredictor(Predictor):
    """Labels for texts or numeric series, from a checkpoint written by ``classify.train``.

    ``predict(inputs)`` takes a list of texts, an array of series ``(N, T)`` / ``(N, T, F)``
    (or a list of ``(T,)`` / ``(T, F)`` arrays of any lengths), or ``Examples``, and returns
    one ``{"label": str, "probs": {class: p}}`` per input. ``predict_proba`` gives the
    ``(N, C)`` array (columns in ``classes`` order); ``evaluate(inputs, labels)`` (or labelled
    ``Examples``) gives accuracy, macro-F1, per-class F1, the confusion matrix and the
    cross-entropy. An ensemble (``Config.ensemble > 1``) averages its members' probabilities.

    Example:
        >>> clf = rnnkit.open("mr-clf")
        >>> clf.predict(["a gorgeous, witty film"])
        [{'label': 'pos', 'probs': {'pos': 0.93, 'neg': 0.07}}]
    """

    task = TASK

    def __init__(self, model, config: Config, preprocessing: Preprocessing, path=None):
        super().__init__(model, config, path)
        self.preprocessing = preprocessing

    @property
    def classes(self) -> list[str]:
        return list(self.preprocessing.labels.classes)

    def examples(self, inputs, labels: Sequence[str] | None = None) -> Examples:
        """``inputs`` (texts, series or Examples) as ``Examples`` of this classifier's kind."""
        if isinstance(inputs, Examples):
            return inputs
        if isinstance(inputs, str):
            raise ValueError("classify predict: expected a list of texts, got one string; "
                             "wrap it in a list")
        if len(inputs) and isinstance(inputs[0], str):
            return Examples(texts=list(inputs), labels=labels)
        series = [_series(s, i) for i, s in enumerate(inputs)]  # (T, F) each
        if not series:
            raise ValueError("classify predict: no inputs")
        widths = [s.shape[1] for s in series]
        if len(set(widths)) > 1:
            i = next(i for i, w in enumerate(widths) if w != widths[0])
            raise ValueError(f"classify predict: sequence {i + 1} has {widths[i]} features per "
                             f"step, sequence 1 has {widths[0]}; every step needs the same "
                             "features")
        lengths = np.array([len(s) for s in series])
        shape = (len(series), int(lengths.max()), series[0].shape[1])
        check_memory("classify predict: the series padded to the longest",
                     4.0 * shape[0] * shape[1] * shape[2])
        values = np.zeros(shape, np.float32)
        for i, s in enumerate(series):
            values[i, : len(s)] = s
        return Examples(values=values, lengths=lengths, labels=labels)

    def read(self, *, need_labels: bool = True, **sources) -> Examples:
        """``read_examples(**sources)`` with the CSV columns remembered from training, checked
        against this classifier (input kind and width) before any work. Labels the classifier
        never saw in training are kept: ``evaluate`` scores them as wrong."""
        info = self.preprocessing.info
        sources["text_col"] = sources.get("text_col") or info.get("text_col")
        if sources.get("ucr"):  # the rows' layout as in training, labelled or not
            sources["label_col"] = sources.get("label_col") or info.get("ucr_label")
        else:
            sources["label_col"] = sources.get("label_col") or (info.get("label_col")
                                                                if need_labels else None)
        if sources.get("series_csv"):  # the series CSV's columns, as in training
            for key in ("id_col", "time_col"):
                sources[key] = sources.get(key) or info.get(key)
            sources["feature_cols"] = (sources.get("feature_cols")
                                       or self.preprocessing.features)
        examples = read_examples(**sources, need_labels=need_labels)
        self.preprocessing.check(examples)
        return examples

    def length_note(self, examples: Examples) -> str | None:
        """``Preprocessing.length_note`` at the steps the model reads (after its PAA)."""
        members = getattr(self.model, "members", None)
        model = members[0] if members is not None else self.model
        return self.preprocessing.length_note(examples, getattr(model, "downsample", 1))

    @torch.no_grad()
    def predict_proba(self, inputs, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, C), columns in ``classes`` order."""
        dataset = self.preprocessing.dataset(self.examples(inputs), with_labels=False)
        self.model.eval()
        device = next(self.model.parameters()).device
        out = [torch.softmax(self.model(x.to(device), n), dim=-1).cpu()
               for (x, n), _ in make_loader(dataset, batch_size)]
        return torch.cat(out).double().numpy()

    def predict(self, inputs, batch_size: int = 256) -> list[dict]:
        """One ``{"label": ..., "probs": {class: p}}`` per input."""
        probs, classes = self.predict_proba(inputs, batch_size), self.classes
        return [{"label": classes[int(p.argmax())],
                 "probs": {c: float(q) for c, q in zip(classes, p, strict=True)}} for p in probs]

    def evaluate(self, inputs, labels: Sequence[str] | None = None,
                 batch_size: int = 256) -> dict:
        """Accuracy, macro-F1, per-class F1, confusion matrix and cross-entropy on labelled
        inputs (``Examples`` with labels, or inputs and ``labels``).

        A label never seen in training is scored as scikit-learn's metrics score it: each such
        example is wrong (the model cannot predict it), the label becomes one more class after
        the model's (``classes``, a confusion-matrix row, per-class F1 0, in the macro-F1), and
        ``unseen_labels`` counts them (``{label: examples}``, empty when there are none). The
        cross-entropy is over the examples with known labels (an unseen one has no
        probability; None when there are none).
        """
        from ...metrics import classification_report

        examples = self.examples(inputs, labels)
        if examples.labels is None:
            raise ValueError("evaluation needs labelled examples")
        given = [str(lab) for lab in examples.labels]
        known = self.classes
        unseen = Counter(lab for lab in given if lab not in set(known))
        classes = known + list(unseen)  # the unseen in order of first appearance
        index = {c: i for i, c in enumerate(classes)}
        targets = np.array([index[lab] for lab in given], dtype=np.int64)
        probs = self.predict_proba(examples, batch_size)
        report = classification_report(targets, probs.argmax(1), classes)
        seen = targets < len(known)
        nll = -np.log(np.clip(probs[np.arange(len(probs))[seen], targets[seen]], 1e-12, 1))
        report["cross_entropy"] = (float(nll.mean()) if seen.any() and math.isfinite(nll.mean())
                                   else None)
        report["unseen_labels"] = dict(unseen)
        return report


def _series(sequence, i: int) -> np.ndarray:
    """One input sequence as (T, F) float32: ``(T,)`` numbers or ``(T, F)`` steps."""
    if isinstance(sequence, (list, tuple)) and all(isinstance(x, (list, tuple))
                                                   for x in sequence):
        odd = next((k for k, x in enumerate(sequence) if len(x) != len(sequence[0])), None)
        if odd is not None:
            raise ValueError(f"classify predict: sequence {i + 1} has ragged steps (step 1 has "
                             f"{len(sequence[0])} numbers, step {odd + 1} has "
                             f"{len(sequence[odd])}); every step needs the same features")
    try:  # float64 first: a number beyond float32's range is refused, not made inf
        s = np.asarray(sequence, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"classify predict: sequence {i + 1} is not (T,) numbers or (T, F) "
                         "steps of F numbers each") from None
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.size == 0:
        what = ("is empty" if s.ndim and s.shape[0] == 0
                else "has steps without numbers" if s.ndim == 2 else f"has shape {s.shape}")
        raise ValueError(f"classify predict: sequence {i + 1} {what}; expected (T,) numbers or "
                         "(T, F) steps of F numbers, T >= 1")
    bad = ~np.isfinite(s) | (np.abs(s) > FLOAT32_MAX)
    if bad.any():
        t, f = np.argwhere(bad)[0]
        raise ValueError(f"classify predict: sequence {i + 1}, step {t + 1}, feature {f + 1} is "
                         f"{float(s[t, f])!r}; expected finite numbers within float32's range "
                         f"(±{FLOAT32_MAX:.4g})")
    return s.astype(np.float32)


def _config_of(extras: dict) -> Config:
    if "config" in extras:  # written before step differences or a default crop existed:
        # read without them (a crop not stored was off)
        return Config.from_dict({"differences": False, "crop": 1.0, **extras["config"]})
    old = (extras[EXTRAS_KEY].get("info") or {}).get("train_config") or {}  # 0.1.0
    names = {f.name for f in fields(Config)}
    settings = {_LEGACY_NAMES.get(k, k): v for k, v in old.items()}
    config = Config(**{k: v for k, v in settings.items() if k in names})
    if isinstance(config.class_weights, list):
        config.class_weights = ",".join(map(str, config.class_weights))
    config.normalize = "global"  # what 0.1.0 did
    config.ensemble = 1  # 0.1.0 trained one model
    return config


def load(path: str | os.PathLike, device: str = "cpu") -> ClassifyPredictor:
    """The ``ClassifyPredictor`` of a checkpoint folder written by ``classify.train`` (or by
    rnnkit 0.1.0's ``rnnkit classify train``)."""
    from ...checkpoint import load as load_model
    from ...models.ensemble import ClassifierEnsemble
    from ...models.text_classifier import TextClassifier
    from ...runtime import resolve_device

    extras = load_extras(path)
    if EXTRAS_KEY not in extras:
        raise CheckpointError(f"{path} holds no classifier (it was not written by rnnkit "
                              "classify train)")
    model = load_model(path, device=str(resolve_device(device)))
    if not isinstance(model, (TextClassifier, ClassifierEnsemble)):
        raise CheckpointError(f"{path} holds a {type(model).__name__}, not a TextClassifier "
                              "or ClassifierEnsemble")
    with reading_extras(path, "classify preprocessing"):
        prep = Preprocessing.from_dict(extras[EXTRAS_KEY])
    check_size(path, "class list", len(prep.labels.classes), model, "num_classes")
    if prep.tokenizer is not None:
        check_size(path, "tokenizer", prep.tokenizer.vocab_size, model, "vocab_size")
    return ClassifyPredictor(model.eval(), _config_of(extras), prep, path)
