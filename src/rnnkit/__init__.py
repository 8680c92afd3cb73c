"""rnnkit: recurrent neural networks on PyTorch, from the equations to the command line.

The public API at a glance; see README.md for a quick start.
"""

from .cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell
from .layers import GRU, LSTM, RNN, SimpleRNN

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # cells
    "RecurrentCell",
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    # layers
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
]
