"""Anomaly detection on streams and sequences: ``rnnkit.apps.anomaly``.

Two layouts, two detectors, one shape (``Config`` → ``train`` → ``load`` → ``Predictor``):

- a stream (CSV: a time column and value columns): a ``StreamForecaster`` predicts each next
  reading (score = its normalised error) or a ``SequenceAutoencoder`` reconstructs the last
  ``window`` readings (score = reconstruction error); the anomaly likelihood (how unusual the
  recent scores are against their own history, after Numenta's HTM detector) makes one
  threshold work across series. Scoring carries the recurrent state, one reading at a time
  or in batches, with the same numbers; nothing looks ahead.
- sequences (one per row, UCR layout: label first): trained on the normal class only; a
  sequence is flagged when its score exceeds a quantile of the training scores.

Example:
    >>> from rnnkit.apps import anomaly
    >>> anomaly.train(anomaly.Config(data="sensor.csv", checkpoint="ck"))
    >>> scores = anomaly.load("ck").predict("sensor.csv")  # time, value, score, likelihood, flag
"""

from ..base import register_app
from .app import TASK, AnomalyPredictor, learning_rows, load, train
from .config import Config
from .likelihood import AnomalyLikelihood, Flagger, log_likelihood
from .plot import plot_scores

__all__ = ["TASK", "Config", "train", "load", "AnomalyPredictor", "AnomalyLikelihood",
           "Flagger", "log_likelihood", "learning_rows", "plot_scores"]

register_app(TASK, load)
