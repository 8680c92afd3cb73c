"""Sequence classification: texts or numeric series in, a label and class probabilities out.

The application's parts (the shape every ``rnnkit.apps`` application shares):

- ``Config`` (``config.py``): every setting, typed, with its help text;
- ``read_examples`` / ``Examples`` / ``Preprocessing`` (``inputs.py``): a text CSV, one text
  file per class, or UCR-layout numeric series, turned into model inputs;
- ``train(config, examples, checkpoint)`` (``training.py``): fits one ``TextClassifier`` or an
  ensemble of ``config.ensemble`` of them with ``rnnkit.fit`` and writes one checkpoint folder
  tagged ``task="classify"``;
- ``load(path)`` (``predictor.py``) -> ``ClassifyPredictor`` with ``predict`` (a list of
  ``{"label", "probs"}``), ``predict_proba`` and ``evaluate``; ``rnnkit.open(path)`` finds it.

Checkpoints written by rnnkit 0.1.0's ``rnnkit classify train`` (extras key ``classify``, no
task tag) load the same way.

Example:
    >>> from rnnkit.apps import classify
    >>> examples = classify.read_examples(text_files=["pos.txt", "neg.txt"])
    >>> history = classify.train(classify.Config(ensemble=3), examples, "clf")
    >>> classify.load("clf").predict(["a fine film"])
"""

from ..base import register_app
from .config import Config
from .inputs import Examples, Preprocessing, read_examples
from .predictor import ClassifyPredictor, load
from .training import NGRAM_SCALES, TASK, ClassifyHistory, build_model, train

__all__ = ["TASK", "Config", "Examples", "Preprocessing", "read_examples", "train", "load",
           "ClassifyPredictor", "ClassifyHistory", "build_model", "NGRAM_SCALES"]

register_app(TASK, load)
