"""The classification application's settings: one typed field per setting, its help text in
the comment after it (``rnnkit classify train`` builds its flags from these)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from ...config_dict import config_from_dict
from .inputs import NORMALIZATIONS

__all__ = ["Config"]

CELLS = ("lstm", "gru", "rnn")
POOLINGS = ("last", "mean", "max", "attention", "max_mean")
FRONTENDS = ("conv", "none")
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "cosine", "plateau")
KIND_DEFAULTS = {
    "text": dict(cell="lstm", pooling="max", dropout=0.5, embedding_dropout=0.3, epochs=10,
                 batch_size=32, lr=1e-3, schedule="none", val_fraction=0.1, patience=2,
                 ema=0.0, ensemble=1, crop=1.0),
    "numeric": dict(cell="gru", pooling="attention", dropout=0.2, embedding_dropout=0.0,
                    epochs=150, batch_size=16, lr=3e-3, schedule="cosine", val_fraction=0.0,
                    patience=0, ema=0.0, ensemble=5, crop=1.0),  # crop: by lengths
}
# Numeric series: the defaults above are for small training sets (the UCR/UEA sets of
# benchmarks/ucr.py have 20-537 series), where one network's result moves by several points
# from seed to seed (ArrowHead 54.9-73.1 over three seeds) and averaging five networks, as
# InceptionTime does, buys one to four points (13 sets, three runs without differences:
# 91.54-92.35 % with five, 88.02-90.64 with one; with them 92.56/91.74 and 90.57/87.51;
# MiniRocket 95.04-95.06). Larger sets get one network, and beyond
# EXAMPLE_BUDGET examples seen fewer epochs: 150 epochs of 70,000 heartbeats would be ~10
# million examples, hours on a CPU.
ENSEMBLE_UP_TO = 1_000  # training series: five networks up to here, one above
EXAMPLE_BUDGET = 300_000  # examples seen per network: epochs = min(150, budget / series)
MIN_EPOCHS = 3
# A small set also gets more epochs: 150 epochs of 20 series in batches of 16 are 300 optimizer
# steps, against 5,100 for PLAID's 537 series. Every network takes at least MIN_STEPS steps
# (FCN and ResNet train 1,500-2,000 epochs on these sets, Wang et al. 2017). By 3-fold CV on
# the training splits of the 11 sets it changes, one network: 88.78 -> 89.26 % (ACSF1 +12,
# PickupGestureWiimoteZ -6); on their test splits five networks +0.16 and +1.10 on the 13-set
# mean (two seed sets), one network +1.00 and +2.62 (BENCHMARKS.md, "At least 2,000 optimizer
# steps"), for 1.5-10 times the CPU. On two synthetic sets it was not chosen on (CBF, two
# patterns; benchmarks/ucr_synthetic.py) no clear gain: five networks +0.20, one -0.42.
MIN_STEPS = 2_000
# Window slicing by default only where the training series already differ in length: a window
# keeps its own length, so there it shows the network more of the variation it must handle,
# while on equal-length series it would train on lengths the test series never have. By 3-fold
# CV on the training splits of the three such sets of benchmarks/ucr.py (one network, with
# step differences): PLAID 81.01 -> 87.90, PickupGestureWiimoteZ 60 -> 58, JapaneseVowels
# 97.41 -> 96.67 (34 series gained in all); on equal-length sets it lost as often as it won.
CROP_VARYING = 0.8  # the crop of a training set whose lengths vary
CROP_SPAN = 1.25  # "vary": longest / shortest at least this (the spread a 0.8 crop makes)
# settings that only one input kind reads (left out of what a run reports; given for the
# other kind, training notes that it ignores them)
TEXT_ONLY = ("embedding_dim", "word_dropout", "subword_buckets", "ngram_buckets", "min_freq",
             "max_vocab", "max_length")
NUMERIC_ONLY = ("frontend", "conv_channels", "conv_dilation", "crop", "differences", "max_steps",
                "normalize")


@dataclass
class Config:
    """How ``rnnkit.apps.classify.train`` builds and fits a classifier (text or numeric)."""

    # None: the default for the input kind (KIND_DEFAULTS: text, numeric), chosen on MR and on
    # the UCR/UEA sets of benchmarks/ucr.py; the checkpoint stores the resolved values
    cell: str | None = None  # recurrent cell: lstm, gru or rnn (text lstm, numeric gru)
    hidden_size: int = 64  # recurrent units per direction
    embedding_dim: int = 128  # text: size of a token's vector
    num_layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # read each sequence both ways
    pooling: str | None = None  # outputs -> vector: last, mean, max, attention, max_mean
    # (text max, numeric attention)
    dropout: float | None = None  # on the pooled vector and between layers (text 0.5, numeric 0.2)
    embedding_dropout: float | None = None  # on the embedded tokens / input features
    # (text 0.3, numeric 0)
    word_dropout: float = 0.0  # text: replace tokens by <unk> with this probability in training
    subword_buckets: int = 0  # text: > 0 adds hashed character 3-5-grams to each word (fastText)
    frontend: str = "conv"  # numeric: conv (FCN blocks before the RNN, LSTM-FCN) or none
    conv_channels: int = 64  # numeric: channels of the conv front end (C, 2C, C)
    conv_dilation: int = 4  # numeric: the conv blocks' dilations 1, d, d² (1: FCN's)
    crop: float | None = None  # numeric: train on random windows keeping at least this share
    # of each series (window slicing, Le Guennec et al. 2016; never when predicting); 1: off;
    # none: 0.8 where the training series' lengths vary (longest >= 1.25 x shortest), else off
    differences: bool = True  # numeric: read each feature's step-to-step change beside it
    max_steps: int = 512  # numeric: longer series are averaged down (PAA) to at most this many
    normalize: str = "auto"  # numeric: auto (global, or series where the series' sizes span
    # > 1000x), global (mean/std per feature), series (per series), none
    class_weights: str = "none"  # none, balanced, or comma-separated weights in class order
    label_smoothing: float = 0.0  # cross-entropy against (1-s) one-hot + s uniform
    ngram_buckets: int = 0  # text: > 0 mixes in a counted naive-Bayes n-gram expert (G buckets)
    min_freq: int = 1  # text: rarer words become <unk>
    max_vocab: int | None = None  # text: vocabulary size cap
    max_length: int | None = None  # text: cut texts to this many tokens
    epochs: int | None = None  # passes over the training examples, at most (text 10; numeric
    # 150, more where that is under 2,000 optimizer steps (20 series: 1,000 epochs), fewer
    # above 2,000 series: 300,000 examples seen, at least 3 epochs)
    batch_size: int | None = None  # examples per step (text 32, numeric 16)
    lr: float | None = None  # learning rate (text 0.001, numeric 0.003)
    weight_decay: float = 0.0  # L2 (adam) or decoupled (adamw) weight decay
    optimizer: str = "adam"  # adam or adamw
    schedule: str | None = None  # learning-rate schedule: none, cosine or plateau
    # (text none, numeric cosine)
    val_fraction: float | None = None  # held out per class to pick the best epoch; 0: none
    # (text 0.1, numeric 0)
    patience: int | None = None  # epochs without a better held-out accuracy to stop; 0: never
    # (text 2, numeric 0)
    ema: float | None = None  # decay of the weights' moving average (each step; the held-out
    # accuracy, the best epoch and the saved model use the averaged weights); 0: off
    refit: bool = False  # retrain on every training example for the epochs chosen held out
    # (after the held-out part picked the epochs: again from the same seed, on all the
    # examples, held-out ones included; that model is kept)
    ensemble: int | None = None  # train K models (seeds seed, seed+100, ...) and average their
    # probabilities (text 1; numeric 5 up to 1,000 training series, 1 above)
    warm_restarts: bool = False  # each model after the first starts from the last one's
    # weights (snapshot ensembles: K snapshots of epochs each, for the CPU of one network of
    # K x epochs; with --ensemble 3 --epochs 50 instead of one network of 150)
    seed: int = 0  # random seed of the first model

    def resolved(self, kind: str, examples: int | None = None, lengths=None) -> Config:
        """A copy with every ``None`` setting replaced by ``KIND_DEFAULTS[kind]``; for numeric
        series, ``examples`` (the training set's size, when known) sets the ensemble and the
        epochs of a large set (``ENSEMBLE_UP_TO``, ``EXAMPLE_BUDGET``), and ``lengths`` (the
        training series' lengths, when known) the crop (``numeric_crop_default``)."""
        defaults = dict(KIND_DEFAULTS[kind])
        if kind == "numeric" and examples is not None:
            held = self.val_fraction if self.val_fraction is not None else defaults[
                "val_fraction"]
            defaults.update(numeric_size_defaults(examples, self.batch_size or
                                                  defaults["batch_size"], held_out=held))
        if kind == "numeric" and lengths is not None:
            defaults["crop"] = numeric_crop_default(lengths)
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})

    def check(self) -> Config:
        """Raise ``ValueError`` naming the first bad field and its value; returns self."""
        choices = {"cell": CELLS, "pooling": POOLINGS, "frontend": FRONTENDS,
                   "normalize": NORMALIZATIONS, "optimizer": OPTIMIZERS, "schedule": SCHEDULES}
        for name, allowed in choices.items():
            if getattr(self, name) is None and name in KIND_DEFAULTS["text"]:
                continue
            if getattr(self, name) not in allowed:
                raise ValueError(f"classify Config: {name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        for name in ("hidden_size", "embedding_dim", "num_layers", "conv_channels",
                     "conv_dilation", "max_steps", "epochs", "batch_size", "ensemble", "min_freq",
                     "max_vocab", "max_length"):
            value = getattr(self, name)
            if value is None and name in ("max_vocab", "max_length", "epochs", "batch_size",
                                          "ensemble"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"classify Config: {name} must be a positive integer, got "
                                 f"{value!r}")
        for name in ("subword_buckets", "ngram_buckets", "patience"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise ValueError(f"classify Config: {name} must be 0 (off) or a positive "
                                 f"integer, got {value!r}")
        for name in ("dropout", "embedding_dropout", "word_dropout", "label_smoothing",
                     "val_fraction", "ema"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not 0.0 <= value < 1.0):
                raise ValueError(f"classify Config: {name} must lie in [0, 1), got {value!r}")
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or value < 0 or (name == "lr" and value == 0)):
                raise ValueError(f"classify Config: {name} must be a "
                                 f"{'positive' if name == 'lr' else 'non-negative'} number, "
                                 f"got {value!r}")
        if self.crop is not None and (isinstance(self.crop, bool) or not isinstance(
                self.crop, (int, float)) or not 0.0 < self.crop <= 1.0):
            raise ValueError(f"classify Config: crop must lie in (0, 1] (the smallest share of a "
                             f"series a training window keeps; 1: off), got {self.crop!r}")
        for name in ("refit", "warm_restarts", "differences"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"classify Config: {name} must be true or false, got "
                                 f"{getattr(self, name)!r}")
        self.weights()
        return self

    def weights(self) -> str | list[float]:
        """``class_weights`` parsed: "none", "balanced" or a list of numbers."""
        if self.class_weights in ("none", "balanced"):
            return self.class_weights
        try:
            return [float(w) for w in str(self.class_weights).split(",")]
        except ValueError:
            raise ValueError(f"classify Config: class_weights must be none, balanced or "
                             f"comma-separated numbers, got {self.class_weights!r}") from None

    def to_dict(self) -> dict:
        return asdict(self)

    def read_by(self, kind: str) -> dict:
        """The settings that a model for ``kind`` ("text" or "numeric") reads: ``to_dict()``
        without the other kind's own (what ``rnnkit classify train`` prints)."""
        other = NUMERIC_ONLY if kind == "text" else TEXT_ONLY
        return {k: v for k, v in self.to_dict().items() if k not in other}

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        """A Config from a checkpoint's JSON (unknown keys refused, missing ones defaulted)."""
        return config_from_dict(cls, d)


def numeric_crop_default(lengths) -> float:
    """The crop of the numeric defaults for training series of these lengths:
    ``CROP_VARYING`` where the longest is at least ``CROP_SPAN`` times the shortest, else 1
    (off)."""
    lengths = np.asarray(lengths)
    if lengths.size == 0 or lengths.min() < 1:
        return 1.0
    return CROP_VARYING if lengths.max() >= CROP_SPAN * lengths.min() else 1.0


def numeric_size_defaults(examples: int, batch_size: int = 16, held_out: float = 0.0) -> dict:
    """The ensemble and epochs of the numeric defaults for a training set of this many series
    (read in batches of ``batch_size``): five networks up to ``ENSEMBLE_UP_TO``, one above;
    150 epochs, more where they would be fewer than ``MIN_STEPS`` optimizer steps, and above
    ``EXAMPLE_BUDGET / 150`` series as many epochs as see ``EXAMPLE_BUDGET`` examples. The steps
    and examples seen count the series a network trains on: without the ``held_out`` share
    (``val_fraction``; about, since each class rounds its own share)."""
    trained = max(examples - int(round(examples * held_out)), 1)
    epochs = KIND_DEFAULTS["numeric"]["epochs"]
    if trained * epochs > EXAMPLE_BUDGET:
        epochs = max(MIN_EPOCHS, math.ceil(EXAMPLE_BUDGET / trained))
    else:  # batches per epoch: the last one may be short
        epochs = max(epochs, math.ceil(MIN_STEPS / math.ceil(trained / batch_size)))
    ensemble = KIND_DEFAULTS["numeric"]["ensemble"] if examples <= ENSEMBLE_UP_TO else 1
    return {"ensemble": ensemble, "epochs": epochs}
