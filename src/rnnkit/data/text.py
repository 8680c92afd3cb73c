"""Text for language models: reading files, the n-gram-prefix dataset, and TBPTT streams.

Two ways to turn token ids into training examples:

- ``prefix_dataset`` — the seeds' (Keras tutorial) form for short sentences: every prefix of
  every sentence, pre-padded to one length, with the next token as the label. Each example is
  independent; the model reads a whole prefix and predicts one token.
- ``StreamBatches`` — char-rnn's form for long text: the token stream is cut into ``B``
  contiguous parallel streams, and consecutive chunks of ``seq_len`` steps are served in
  order, so a model that carries its state from one chunk to the next (truncated BPTT) sees
  each stream as one long unbroken sequence.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor

from .tokenizers import PAD_ID

__all__ = ["read_text", "check_encoding", "split_text", "prefix_dataset", "StreamBatches",
           "data_root"]


def data_root() -> Path:
    """Where real datasets live: ``$RNNKIT_DATA``, else ``../shared/data`` beside the repo."""
    env = os.environ.get("RNNKIT_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "shared" / "data"  # src/rnnkit/data/ -> ../


def check_encoding(encoding: str) -> None:
    """One ValueError line for an encoding Python does not know (was a LookupError)."""
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252)") from None


def read_text(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Read a whole text file, with one-line errors for the usual mistakes.

    Windows line ends (CRLF) are read as "\\n". Raises ``ValueError`` when the file is
    missing, a folder, empty (or only whitespace), or not decodable with ``encoding`` — the
    message then names the byte offset and the ``--encoding`` option (``encoding=`` in
    Python).
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"text file {str(p)!r} not found")
    if p.is_dir():
        raise ValueError(f"text file {str(p)!r} is a folder; expected a file")
    check_encoding(encoding)
    data = p.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"cannot decode {str(p)!r} as {encoding}: byte 0x{data[e.start]:02x} at offset "
            f"{e.start}; pass the file's encoding with --encoding (e.g. --encoding latin-1)"
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark (Notepad's) is not a character
    text = text.replace("\r\n", "\n")  # Windows line ends: "\r" was a token, and sampled
    if not text.strip():
        raise ValueError(f"text file {str(p)!r} is empty")
    return text


def split_text(text: str, val_fraction: float = 0.1, between_words: bool = False
               ) -> tuple[str, str]:
    """First ``1 - val_fraction`` of the characters for training, the rest for validation;
    ``between_words``: the cut moved on to the next whitespace, so no word is cut in two (a
    word-level vocabulary learned "ther" from "there")."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"split_text: val_fraction must lie in [0, 1), got {val_fraction!r}")
    cut = int(len(text) * (1.0 - val_fraction))
    if between_words:
        cut = next((i for i in range(cut, len(text)) if text[i].isspace()), len(text)) \
            if 0 < cut < len(text) and not text[cut - 1].isspace() else cut
    return text[:cut], text[cut:]


def prefix_dataset(sequences: Sequence[Sequence[int]], max_length: int | None = None,
                   pad_id: int = PAD_ID) -> tuple[Tensor, Tensor]:
    """Every prefix of every sentence, pre-padded, with the next token as label.

    For a sentence ``[a, b, c, d]`` the examples are ``[a] -> b``, ``[a, b] -> c`` and
    ``[a, b, c] -> d``. Inputs are left-padded with ``pad_id`` to the longest prefix (or cut
    to their last ``max_length`` tokens), as Keras' ``pad_sequences(padding="pre")`` does in
    the seeds, so the last input step is always next to the label.

    Returns:
        inputs (N, T) long and labels (N,) long, N = sum over sentences of (length - 1).

    Example:
        >>> x, y = prefix_dataset([[5, 6, 7], [8, 9]])
        >>> x.tolist(), y.tolist()
        ([[0, 5], [5, 6], [0, 8]], [6, 7, 9])
    """
    prefixes, labels = [], []
    for seq in sequences:
        seq = [int(t) for t in seq]
        for i in range(1, len(seq)):
            prefixes.append(seq[:i])
            labels.append(seq[i])
    if not prefixes:
        raise ValueError("prefix_dataset: expected at least one sentence of two or more tokens")
    T = max(len(p) for p in prefixes) if max_length is None else max_length
    x = torch.full((len(prefixes), T), pad_id, dtype=torch.long)
    for row, p in enumerate(prefixes):
        p = p[-T:]
        x[row, T - len(p):] = torch.tensor(p, dtype=torch.long)
    return x, torch.tensor(labels, dtype=torch.long)


class StreamBatches:
    """Contiguous-stream batches for truncated BPTT (char-rnn style).

    The ids are cut into ``batch_size`` equal contiguous streams (the remainder that does not
    fill a stream is dropped); chunk ``k`` holds steps ``[k*seq_len, (k+1)*seq_len)`` of every
    stream, and its targets are the same steps shifted by one. So row ``b`` of chunk ``k+1``
    continues row ``b`` of chunk ``k`` exactly, and a model that carries its state across
    chunks sees one unbroken sequence per row. The last chunk may be shorter.

    Iterating yields ``(x (B, T) long, y (B, T) long)`` in order, never shuffled; ``len`` is
    the number of chunks. This is the data ``rnnkit.fit(..., tbptt=seq_len)`` expects.

    Example:
        >>> batches = StreamBatches(torch.arange(13), batch_size=2, seq_len=4)
        >>> [x.tolist() for x, _ in batches]
        [[[0, 1, 2, 3], [6, 7, 8, 9]], [[4, 5], [10, 11]]]
    """

    def __init__(self, ids: Sequence[int] | Tensor, batch_size: int, seq_len: int):
        for arg, value in (("batch_size", batch_size), ("seq_len", seq_len)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"StreamBatches: {arg} must be a positive integer, got "
                                 f"{value!r}")
        ids = torch.as_tensor(ids, dtype=torch.long).flatten()
        per_stream = (len(ids) - 1) // batch_size  # steps per stream (each needs a next token)
        if per_stream < 1:
            raise ValueError(f"StreamBatches: {len(ids)} tokens are too few for batch_size="
                             f"{batch_size}; need at least {batch_size + 1}")
        self.batch_size, self.seq_len, self.steps = batch_size, seq_len, per_stream
        n = batch_size * per_stream
        self.inputs = ids[:n].view(batch_size, per_stream)  # (B, S)
        self.targets = ids[1:n + 1].view(batch_size, per_stream)  # (B, S): the next tokens

    def __len__(self) -> int:
        return math.ceil(self.steps / self.seq_len)

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= k < len(self):
            raise IndexError(f"StreamBatches: chunk {k} out of range for {len(self)} chunks")
        k %= len(self)
        s = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, s], self.targets[:, s]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for k in range(len(self)):
            yield self[k]

    @property
    def num_tokens(self) -> int:
        """Targets served per pass: batch_size * steps."""
        return self.batch_size * self.steps

    def __repr__(self) -> str:
        return (f"StreamBatches(batch_size={self.batch_size}, seq_len={self.seq_len}, "
                f"steps={self.steps}, chunks={len(self)})")
