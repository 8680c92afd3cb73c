"""A recurrent language model: predict the next token from the ones before it.

The char-rnn / word-level LM of Zaremba et al., "Recurrent neural network regularization"
(2014), with the optional weight tying of Press & Wolf, "Using the output embedding to
improve language models" (2017)::

    e_t        = dropout_e(E[x_t])           embedding            (B, T, E)
    h_t, s_t   = RNN(e_t, s_{t-1})           any rnnkit cell      (B, T, H)
    logits_t   = W dropout(h_t) + b          W = E when tied      (B, T, V)

``forward(tokens, state)`` returns the logits of every step and the final state, so training
can carry the state across chunks (truncated BPTT) and generation can feed one token at a
time (``rnnkit.generate``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..checkpoint import register_model
from ..data.tokenizers import PAD_ID
from ..layers import RNN
from ..validate import positive_int, probability

__all__ = ["LanguageModel", "NextToken"]


@register_model
class LanguageModel(nn.Module):
    """Embedding → ``rnnkit.RNN`` → dropout → linear: next-token logits at every step.

    Args:
        vocab_size: V, the tokenizer's ``vocab_size``.
        hidden_size: H of every recurrent layer.
        num_layers: stacked recurrent layers.
        cell: ``"lstm"`` | ``"gru"`` | ``"rnn"`` (any kind ``rnnkit.RNN`` takes).
        embedding_dim: E (default: H).
        dropout: between recurrent layers and before the output layer (training only).
        embedding_dropout: on the embeddings (default: ``dropout``, Zaremba et al.'s "every
            non-recurrent connection"). Char models often learn faster with 0: a character's
            64-wide embedding carries little redundancy to drop.
        tie_weights: share the embedding matrix with the output layer (needs E == H).
        pad_id: the embedding row kept at zero (``<pad>``, 0); None for none.

    Shapes:
        tokens: (B, T) long; state: the RNN's, (L, B, H) or (h, c).
        returns logits (B, T, V) and the final state.

    Example:
        >>> lm = LanguageModel(vocab_size=70, hidden_size=32, num_layers=2)
        >>> logits, state = lm(torch.randint(0, 70, (4, 10)))
        >>> logits.shape, state[0].shape
        (torch.Size([4, 10, 70]), torch.Size([2, 4, 32]))
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 1,
                 cell: str = "lstm", embedding_dim: int | None = None, dropout: float = 0.0,
                 tie_weights: bool = False, pad_id: int | None = PAD_ID,
                 embedding_dropout: float | None = None):
        super().__init__()
        embedding_dim = hidden_size if embedding_dim is None else embedding_dim
        for arg, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size),
                           ("num_layers", num_layers), ("embedding_dim", embedding_dim)):
            positive_int(arg, value, "LanguageModel")
        embedding_dropout = dropout if embedding_dropout is None else embedding_dropout
        for arg, value in (("dropout", dropout), ("embedding_dropout", embedding_dropout)):
            probability(arg, value, "LanguageModel")
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(f"LanguageModel: tie_weights needs embedding_dim == hidden_size, "
                             f"got {embedding_dim} and {hidden_size}")
        if pad_id is not None and not 0 <= pad_id < vocab_size:
            raise ValueError(f"LanguageModel: pad_id must lie in [0, {vocab_size}) or be None, "
                             f"got {pad_id!r}")
        # the JSON-able constructor arguments: what checkpoints store to rebuild the model
        self.config = dict(vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                           cell=cell, embedding_dim=embedding_dim, dropout=float(dropout),
                           tie_weights=bool(tie_weights), pad_id=pad_id,
                           embedding_dropout=float(embedding_dropout))
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        # between layers: with one layer there is none (RNN would warn); the rest stays below
        self.rnn = RNN(cell, embedding_dim, hidden_size, num_layers,
                       dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.head.weight = self.embedding.weight

    def forward(self, tokens: torch.Tensor, state=None):
        """Logits (B, T, V) for the token after each position, and the final state."""
        ok = isinstance(tokens, torch.Tensor)
        if not ok or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if ok else type(tokens).__name__
            raise ValueError(f"LanguageModel: expected integer tokens of shape (B, T), got "
                             f"{shape}")
        x = self.embedding_dropout(self.embedding(tokens))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, V)

    def init_state(self, batch_size: int, device=None, dtype=None):
        """The zero state for ``batch_size`` streams."""
        return self.rnn.init_state(batch_size, device=device, dtype=dtype)


class NextToken(nn.Module):
    """The seeds' many-to-one view of a language model: the logits after the last token.

    Wraps a ``LanguageModel`` (sharing its parameters) so that ``rnnkit.fit`` can train it on
    ``prefix_dataset`` examples: ``(B, T)`` pre-padded prefixes → ``(B, V)`` logits for the
    ``(B,)`` next-token labels.
    """

    def __init__(self, lm: LanguageModel):
        super().__init__()
        self.lm = lm

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits, _ = self.lm(tokens)
        return logits[:, -1]  # (B, V)
