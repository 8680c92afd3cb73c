"""rnnkit: recurrent neural networks on PyTorch, from the equations to the command line.

The public API at a glance; see README.md for a quick start.
"""

from . import decoding, diagnostics, generate
from .apps import open
from .cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell
from .checkpoint import load, save
from .data.tokenizers import CharTokenizer, WordTokenizer
from .export import export  # the function; the package stays importable as rnnkit.export.*
from .keras_import import from_keras
from .layers import GRU, LSTM, RNN, SimpleRNN
from .ln_cells import LayerNormGRUCell, LayerNormLSTMCell
from .min_cells import MinGRUCell, MinLSTMCell
from .models import (
    FeedForward,
    SequenceClassifier,
    SequenceGenerator,
    SequenceRegressor,
    SequenceTagger,
)
from .models.forecaster import Forecaster
from .models.language_model import LanguageModel
from .models.seq2seq import Seq2Seq
from .models.text_classifier import TextClassifier
from .summary import summary
from .train import History, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # cells
    "RecurrentCell",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "MinGRUCell",
    "MinLSTMCell",
    "LayerNormLSTMCell",
    "LayerNormGRUCell",
    # layers
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
    # models
    "SequenceRegressor",
    "SequenceClassifier",
    "TextClassifier",
    "SequenceTagger",
    "SequenceGenerator",
    "FeedForward",
    "Forecaster",
    "LanguageModel",
    "Seq2Seq",
    # text: tokenizers; sampling and beam search (rnnkit.generate.generate, .beam_search)
    "CharTokenizer",
    "WordTokenizer",
    "generate",
    # translation: greedy/batched beam search, BLEU (rnnkit.decoding.translate, .bleu)
    "decoding",
    # training and checkpoints
    "fit",
    "predict",
    "evaluate",
    "History",
    "save",
    "load",
    # a Keras-like table of a model's layers, parameters and state sizes
    "summary",
    # any application checkpoint -> its Predictor (rnnkit.apps)
    "open",
    # take models out and in: ONNX graphs (rnnkit.export), Keras files (rnnkit.from_keras)
    "export",
    "from_keras",
    # diagnostics: gradient flow through time, gate saturation (rnnkit.diagnostics.analyze)
    "diagnostics",
]
