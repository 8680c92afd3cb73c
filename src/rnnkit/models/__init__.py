"""Task models built from ``rnnkit.RNN``: plain ``nn.Module``s, registered for checkpoints.

The four shapes of sequence learning, plus a feed-forward baseline:

- many-to-one: ``SequenceRegressor`` (values), ``SequenceClassifier`` (class logits);
- many-to-many, aligned: ``SequenceTagger``;
- one-to-many: ``SequenceGenerator`` (a vector initialises the state, a sequence comes out);
- one-to-one: ``FeedForward``.
"""

from .classifier import SequenceClassifier
from .feedforward import FeedForward
from .generator import SequenceGenerator
from .regressor import SequenceRegressor
from .tagger import SequenceTagger

__all__ = ["SequenceRegressor", "SequenceClassifier", "SequenceTagger", "SequenceGenerator",
           "FeedForward"]
