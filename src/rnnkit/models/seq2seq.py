"""Encoder–decoder with attention for translation (sequence to sequence).

Bahdanau, Cho & Bengio, "Neural machine translation by jointly learning to align and
translate" (2015) — additive attention; Luong, Pham & Manning, "Effective approaches to
attention-based neural machine translation" (2015) — dot/general attention, the attentional
layer and input feeding. The encoder follows OpenNMT's "brnn": each direction has H/2 units,
so the memory and the decoder share one size H::

    m_1..m_S, h_S  = BiRNN(E_src[x_1..x_S], lengths)      memory (B, S, H), padding zero
    s_0            = [h_fwd; h_bwd] per layer               the decoder's first state
    decoder step t, y_{t-1} the previous target token (teacher forcing: the true one):
      "bahdanau":  a_t = softmax_j(v^T tanh(W_q s_{t-1} + W_k m_j))    query: previous state
                   c_t = sum_j a_tj m_j ;  s_t = RNN([E_tgt y_{t-1}; c_t; f_{t-1}], s_{t-1})
      "dot":       s_t = RNN([E_tgt y_{t-1}; f_{t-1}], s_{t-1}) ; a_t = softmax_j(s_t . m_j)
      "general":   as "dot" with a_t = softmax_j(s_t^T W_a m_j)        query: current state
                   c_t = sum_j a_tj m_j
      h~_t   = tanh(W_c [c_t; s_t])           the attentional hidden state (B, H or E)
      logits = W_o dropout(h~_t) + b_o        (B, V_tgt); W_o = E_tgt when tie_embeddings
    f_{t-1} = h~_{t-1} when input_feeding (zeros at t = 1), else nothing.

Scores at padded source positions are -inf before the softmax, so each row of attention sums
to 1 over the real source positions only and is exactly 0 on padding.

Training feeds the true previous token with probability ``teacher_forcing_ratio`` per step,
else the model's own argmax. With teacher forcing 1, dot/general attention and no input
feeding, the decoder RNN runs once over all T steps (the fused kernel) and attention is one
batched matmul; the step loop computes the same numbers.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from ..checkpoint import register_model
from ..data.tokenizers import PAD_ID
from ..layers import RNN
from ..validate import positive_int, probability

__all__ = ["Seq2Seq", "ATTENTIONS", "plot_attention"]

ATTENTIONS = ("bahdanau", "dot", "general")
CELLS = ("gru", "lstm")


def _check_tokens(name: str, tokens, what: str) -> None:
    ok = isinstance(tokens, Tensor)
    if not ok or tokens.dim() != 2 or tokens.is_floating_point():
        shape = tuple(tokens.shape) if ok else type(tokens).__name__
        raise ValueError(f"{name}: expected integer {what} of shape (B, T), got {shape}")


@register_model
class Seq2Seq(nn.Module):
    """Bidirectional-RNN encoder, attentive RNN decoder: source tokens → target logits.

    Args:
        src_vocab_size: source vocabulary size (the source tokenizer's ``vocab_size``).
        tgt_vocab_size: target vocabulary size.
        hidden_size: H, the decoder's size and the memory's (each encoder direction H/2).
        embedding_dim: E for both embeddings (default H).
        num_layers: layers of the encoder and of the decoder.
        cell: "gru" | "lstm".
        attention: "bahdanau" (additive) | "dot" | "general" (Luong); see the module doc.
        input_feeding: feed h~_{t-1} to the decoder's next step (Luong et al.).
        bidirectional: a bidirectional encoder (default); False gives it H units one way.
        dropout: on embeddings, between layers and before the output layer (training only).
        teacher_forcing_ratio: the chance, per training step, of feeding the true previous
            token rather than the model's own prediction (1 = always the true one).
        tie_embeddings: the output layer reuses the target embedding (h~ then has E units).
        share_embeddings: source and target use one embedding (one joint vocabulary, so the
            two vocabulary sizes must be equal).
        max_src_len: the longest source (tokens) the model was trained for; translation
            truncates or refuses longer input (see ``rnnkit.decoding``).
        pad_id: the padding id of both vocabularies (0).

    Shapes:
        src: (B, S) long, right-padded; src_lengths: (B,) in [1, S]; tgt_in: (B, T) long, the
        target shifted right (``<bos>`` first). Returns logits (B, T, V_tgt) and the attention
        weights (B, T, S).

    Example:
        >>> model = Seq2Seq(src_vocab_size=20, tgt_vocab_size=30, hidden_size=32)
        >>> src, lengths = torch.randint(4, 20, (2, 7)), torch.tensor([7, 4])
        >>> logits, attn = model(src, lengths, torch.randint(4, 30, (2, 5)))
        >>> logits.shape, attn.shape, attn[1, :, 4:].abs().sum().item()
        (torch.Size([2, 5, 30]), torch.Size([2, 5, 7]), 0.0)
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, hidden_size: int = 256,
                 embedding_dim: int | None = None, num_layers: int = 1, cell: str = "gru",
                 attention: str = "general", input_feeding: bool = False,
                 bidirectional: bool = True, dropout: float = 0.0,
                 teacher_forcing_ratio: float = 1.0, tie_embeddings: bool = False,
                 share_embeddings: bool = False, max_src_len: int = 100,
                 pad_id: int = PAD_ID):
        super().__init__()
        E = hidden_size if embedding_dim is None else embedding_dim
        for arg, value in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                           ("hidden_size", hidden_size), ("embedding_dim", E),
                           ("num_layers", num_layers), ("max_src_len", max_src_len)):
            positive_int(arg, value, "Seq2Seq")
        if cell not in CELLS:
            raise ValueError(f"Seq2Seq: cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"Seq2Seq: attention must be one of {', '.join(ATTENTIONS)}, got "
                             f"{attention!r}")
        if bidirectional and hidden_size % 2:
            raise ValueError(f"Seq2Seq: a bidirectional encoder needs an even hidden_size (H/2 "
                             f"units per direction), got {hidden_size}")
        probability("dropout", dropout, "Seq2Seq")
        probability("teacher_forcing_ratio", teacher_forcing_ratio, "Seq2Seq", allow_one=True)
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(f"Seq2Seq: share_embeddings needs one joint vocabulary, got "
                             f"src_vocab_size={src_vocab_size} and tgt_vocab_size="
                             f"{tgt_vocab_size}")
        if not 0 <= pad_id < min(src_vocab_size, tgt_vocab_size):
            raise ValueError(f"Seq2Seq: pad_id must be a valid id of both vocabularies, got "
                             f"{pad_id!r}")
        # the JSON-able constructor arguments: what checkpoints store to rebuild the model
        self.config = dict(
            src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size,
            hidden_size=hidden_size, embedding_dim=E, num_layers=num_layers, cell=cell,
            attention=attention, input_feeding=bool(input_feeding),
            bidirectional=bool(bidirectional), dropout=float(dropout),
            teacher_forcing_ratio=float(teacher_forcing_ratio),
            tie_embeddings=bool(tie_embeddings), share_embeddings=bool(share_embeddings),
            max_src_len=max_src_len, pad_id=pad_id)
        H = hidden_size
        self.hidden_size, self.num_layers, self.cell = H, num_layers, cell
        self.attention, self.input_feeding = attention, bool(input_feeding)
        self.teacher_forcing_ratio = float(teacher_forcing_ratio)
        self.tgt_vocab_size, self.max_src_len, self.pad_id = tgt_vocab_size, max_src_len, pad_id
        self.out_size = E if tie_embeddings else H  # units of h~

        self.src_embedding = nn.Embedding(src_vocab_size, E, padding_idx=pad_id)
        self.tgt_embedding = (self.src_embedding if share_embeddings
                              else nn.Embedding(tgt_vocab_size, E, padding_idx=pad_id))
        between = dropout if num_layers > 1 else 0.0  # one layer: no "between" (RNN warns)
        self.encoder = RNN(cell, E, H // 2 if bidirectional else H, num_layers,
                           bidirectional=bidirectional, dropout=between)
        dec_in = E + (H if attention == "bahdanau" else 0) + (self.out_size if input_feeding
                                                               else 0)
        self.decoder = RNN(cell, dec_in, H, num_layers, dropout=between)
        if attention == "bahdanau":
            self.query = nn.Linear(H, H, bias=False)  # W_q
            self.key = nn.Linear(H, H)  # W_k (its bias is the b of v^T tanh(...+ b))
            self.score_v = nn.Linear(H, 1, bias=False)  # v
        elif attention == "general":
            self.key = nn.Linear(H, H, bias=False)  # W_a, applied to the memory once
        self.combine = nn.Linear(2 * H, self.out_size, bias=False)  # W_c
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.out_size, tgt_vocab_size)  # W_o, b_o
        if tie_embeddings:
            self.head.weight = self.tgt_embedding.weight

    # --------------------------------------------------------------------------- encoder
    def encode(self, src: Tensor, src_lengths: Tensor | None = None) -> dict:
        """Read the source; returns the decoder's initial state (a dict, see ``decode_step``).

        ``src_lengths`` None means no padding. The state holds the memory (B, S, H), its
        mask (B, S), the keys attention compares against, the RNN state and h~ (zeros).
        """
        _check_tokens("Seq2Seq", src, "source tokens")
        B, S = src.shape
        if src_lengths is None:
            src_lengths = torch.full((B,), S, dtype=torch.long, device=src.device)
        src_lengths = torch.as_tensor(src_lengths, device=src.device)
        x = self.dropout(self.src_embedding(src))  # (B, S, E)
        memory, final = self.encoder(x, lengths=src_lengths)  # (B, S, H), (L*D, B, H/D)
        mask = torch.arange(S, device=src.device).unsqueeze(0) < src_lengths.unsqueeze(1)
        if self.attention == "dot":
            keys = memory
        else:
            keys = self.key(memory)  # (B, S, H): W_a m_j or W_k m_j + b
        return {"rnn": self._bridge(final), "memory": memory, "keys": keys, "mask": mask,
                "feed": memory.new_zeros(B, self.out_size)}

    def _bridge(self, final):
        """Encoder final state (L*D, B, H/D) → decoder initial state (L, B, H): concat dirs."""
        if not self.encoder.bidirectional:
            return final

        def cat(s: Tensor) -> Tensor:
            L2, B, h = s.shape
            return s.view(L2 // 2, 2, B, h).permute(0, 2, 1, 3).reshape(L2 // 2, B, 2 * h)

        return tuple(cat(s) for s in final) if isinstance(final, tuple) else cat(final)

    # --------------------------------------------------------------------------- attention
    def attend(self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
               ) -> tuple[Tensor, Tensor]:
        """Masked attention: query (B, T, H) → context (B, T, H), weights (B, T, S)."""
        if self.attention == "bahdanau":
            q = self.query(query)  # (B, T, H)
            scores = self.score_v(torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = scores.softmax(-1)  # (B, T, S), zero on padding
        return torch.bmm(weights, memory), weights

    @staticmethod
    def _top(state) -> Tensor:
        """The top layer's hidden state (B, H) of an RNN state."""
        return (state[0] if isinstance(state, tuple) else state)[-1]

    # ------------------------------------------------------------------------------ decoder
    def decode_step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict, Tensor]:
        """One decoder step: previous tokens (B,) → logits (B, V), new state, attention (B, S)."""
        e = self.dropout(self.tgt_embedding(tokens))  # (B, E)
        parts = [e]
        if self.attention == "bahdanau":  # attend with the previous state, feed the context
            context, weights = self.attend(self._top(state["rnn"]).unsqueeze(1), state["keys"],
                                           state["memory"], state["mask"])
            parts.append(context.squeeze(1))
        if self.input_feeding:
            parts.append(state["feed"])
        out, rnn_state = self.decoder.step(torch.cat(parts, -1), state["rnn"])  # (B, H)
        if self.attention != "bahdanau":  # attend with the new state
            context, weights = self.attend(out.unsqueeze(1), state["keys"], state["memory"],
                                           state["mask"])
        feed = torch.tanh(self.combine(torch.cat([context.squeeze(1), out], -1)))  # h~ (B, .)
        logits = self.head(self.dropout(feed))  # (B, V)
        return logits, {**state, "rnn": rnn_state, "feed": feed}, weights.squeeze(1)

    def forward(self, src: Tensor, src_lengths: Tensor | None, tgt_in: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Logits (B, T, V) for each target position, and attention weights (B, T, S)."""
        _check_tokens("Seq2Seq", src, "source tokens")
        _check_tokens("Seq2Seq", tgt_in, "target tokens")
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(f"Seq2Seq: source and target batches differ: {src.shape[0]} and "
                             f"{tgt_in.shape[0]}")
        state = self.encode(src, src_lengths)
        forcing = self.teacher_forcing_ratio if self.training else 1.0
        if forcing >= 1.0 and self.attention != "bahdanau" and not self.input_feeding:
            return self._forward_parallel(tgt_in, state)
        logits, weights = [], []
        tokens = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                tokens = tgt_in[:, t]
                if forcing < 1.0 and float(torch.rand(())) >= forcing:
                    tokens = logits[-1].argmax(-1)  # the model's own prediction
            step_logits, state, w = self.decode_step(tokens, state)
            logits.append(step_logits)
            weights.append(w)
        return torch.stack(logits, 1), torch.stack(weights, 1)

    def _forward_parallel(self, tgt_in: Tensor, state: dict) -> tuple[Tensor, Tensor]:
        """All T steps at once (teacher forcing, query = current state, no input feeding)."""
        e = self.dropout(self.tgt_embedding(tgt_in))  # (B, T, E)
        out, _ = self.decoder(e, state["rnn"])  # (B, T, H): the fused kernel
        context, weights = self.attend(out, state["keys"], state["memory"], state["mask"])
        feed = torch.tanh(self.combine(torch.cat([context, out], -1)))  # (B, T, .)
        return self.head(self.dropout(feed)), weights

    # ---------------------------------------------------------------- search helpers
    def step(self, tokens: Tensor, state: dict) -> tuple[Tensor, dict]:
        """A beam-search step function: ``(tokens (K,), state) -> (log_probs (K, V), state)``.

        The attention weights of the step are kept in ``state["attention"]`` (K, S).
        """
        logits, state, weights = self.decode_step(tokens, state)
        return logits.float().log_softmax(-1), {**state, "attention": weights}

    @staticmethod
    def reorder_state(state: dict, index: Tensor) -> dict:
        """Select rows ``index`` of a decoder state (RNN state on dim 1, the rest on dim 0)."""
        out = {}
        for k, v in state.items():
            if k == "rnn":
                out[k] = (tuple(s.index_select(1, index) for s in v) if isinstance(v, tuple)
                          else v.index_select(1, index))
            else:
                out[k] = v.index_select(0, index)
        return out


def plot_attention(weights, src_tokens: list[str], tgt_tokens: list[str],
                   path: str | Path, title: str | None = None) -> Path:
    """Save an attention heat map (target rows × source columns) as a PNG; returns the path.

    ``weights`` is (T, S) (a tensor or array); the axes are labelled with the tokens.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = torch.as_tensor(weights).detach().float().cpu()
    if w.dim() != 2 or w.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(f"plot_attention: expected weights of shape ({len(tgt_tokens)}, "
                         f"{len(src_tokens)}) (target × source tokens), got {tuple(w.shape)}")
    path = Path(path)
    fig_w = max(4.0, 0.45 * len(src_tokens) + 1.5)
    fig_h = max(3.0, 0.4 * len(tgt_tokens) + 1.5)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    ax.imshow(w.numpy(), cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-6),
              aspect="auto")
    ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(tgt_tokens)), tgt_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    from ..checkpoint import atomic_write  # whole or not at all, its folder made

    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        plt.close(fig)
    return path
