"""Parallel text for translation: reading aligned files, encoding, batching with lengths.

Two files, one sentence per line: line i of the source translates line i of the target
(Multi30k's ``train.lc.norm.tok.de`` / ``.en``). Rules, applied before anything is written:

- the two files must have the same number of lines, else ``ValueError`` naming both counts;
- a pair with an empty (or blank) side is skipped and counted (``empty="skip"``, default) or
  refused with the line number (``empty="error"``);
- a sentence longer than ``max_len`` tokens is cut to its first ``max_len`` tokens and counted
  (``too_long="truncate"``, default) or refused with the line number (``too_long="error"``).
  Lengths count the tokenizer's tokens, before ``<bos>``/``<eos>`` are added.

A batch is ``((src, src_lengths, tgt_in), tgt_out)``, the form ``rnnkit.fit`` calls as
``model(src, src_lengths, tgt_in)``: ``src`` (B, S) right-padded with ``<pad>`` (0), ``tgt_in``
= ``<bos>`` y_1 … y_n (padded with 0) and ``tgt_out`` = y_1 … y_n ``<eos>`` (padded with -100,
which the cross-entropy ignores). ``LengthBuckets`` groups sentences of similar length so
batches carry little padding.

``reversal_pairs`` generates a toy parallel corpus (reverse a sequence of words) for tests
and demos: exact match on it shows whether attention learned to align.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .text import check_encoding
from .tokenizers import BOS_ID, EOS_ID, PAD_ID, pad_sequences

__all__ = ["ParallelText", "read_lines", "read_parallel", "encode_sources", "ParallelDataset",
           "collate_pairs", "LengthBuckets", "parallel_loader", "EMPTY_MODES", "LONG_MODES",
           "IGNORE_INDEX", "reversal_pairs"]

EMPTY_MODES = ("skip", "error")
LONG_MODES = ("truncate", "error")
IGNORE_INDEX = -100  # target padding the cross-entropy skips


def read_lines(path: str | os.PathLike, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file (newline stripped), with one-line errors for bad paths."""
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
        raise ValueError(f"cannot decode {str(p)!r} as {encoding}: byte 0x{data[e.start]:02x} "
                         f"at offset {e.start}; pass the file's encoding (e.g. latin-1)") from None
    lines = text.removeprefix("\ufeff").split("\n")  # a BOM is not part of the first word
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start a new one
    return [line.rstrip("\r") for line in lines]


@dataclass
class ParallelText:
    """Aligned sentence pairs and what reading them dropped."""

    src: list[str]  # source sentences
    tgt: list[str]  # their translations
    line_numbers: list[int] = field(default_factory=list)  # 1-based, in the files
    skipped_empty: int = 0  # pairs skipped because a side was empty

    def __len__(self) -> int:
        return len(self.src)


def read_parallel(src_path: str | os.PathLike, tgt_path: str | os.PathLike, *,
                  empty: str = "skip", encoding: str = "utf-8") -> ParallelText:
    """Read two aligned files; see the module doc for the rules.

    Example:
        >>> pairs = read_parallel("train.de", "train.en")   # doctest: +SKIP
        >>> len(pairs), pairs.skipped_empty
    """
    if empty not in EMPTY_MODES:
        raise ValueError(f"parallel text: empty must be one of {', '.join(EMPTY_MODES)}, got "
                         f"{empty!r}")
    src, tgt = read_lines(src_path, encoding), read_lines(tgt_path, encoding)
    if len(src) != len(tgt):
        raise ValueError(f"parallel text: {str(src_path)!r} has {len(src)} lines but "
                         f"{str(tgt_path)!r} has {len(tgt)}; line i of the source must "
                         "translate line i of the target")
    out = ParallelText([], [], [])
    for i, (s, t) in enumerate(zip(src, tgt, strict=True), start=1):
        if not s.strip() or not t.strip():
            if empty == "error":
                side = "source" if not s.strip() else "target"
                raise ValueError(f"parallel text: line {i} of the {side} is empty (pass "
                                 "empty='skip' / --empty skip to skip such pairs)")
            out.skipped_empty += 1
            continue
        out.src.append(s.strip())
        out.tgt.append(t.strip())
        out.line_numbers.append(i)
    if not out.src:
        raise ValueError(f"parallel text: no non-empty sentence pairs in {str(src_path)!r} and "
                         f"{str(tgt_path)!r}")
    return out


def _fit_length(ids: list[int], max_len: int | None, too_long: str, where: str) -> list[int]:
    if max_len is None or len(ids) <= max_len:
        return ids
    if too_long == "error":
        raise ValueError(f"{where} has {len(ids)} tokens, more than the maximum {max_len} (pass "
                         "too_long='truncate' / --too-long truncate to cut it)")
    return ids[:max_len]


def _check_modes(max_len, too_long) -> None:
    if too_long not in LONG_MODES:
        raise ValueError(f"parallel text: too_long must be one of {', '.join(LONG_MODES)}, got "
                         f"{too_long!r}")
    if max_len is not None and (not isinstance(max_len, int) or isinstance(max_len, bool)
                                or max_len < 1):
        raise ValueError(f"parallel text: max_len must be a positive integer or None, got "
                         f"{max_len!r}")


def encode_sources(texts: Sequence[str], tokenizer, max_len: int | None = None,
                   too_long: str = "truncate", line_numbers: Sequence[int] | None = None
                   ) -> tuple[list[list[int]], int]:
    """Token ids of source sentences (unknown words → ``<unk>``), and how many were cut.

    An empty sentence is refused (its line named): it has nothing to translate.
    """
    _check_modes(max_len, too_long)
    out, cut = [], 0
    for k, text in enumerate(texts):
        line = line_numbers[k] if line_numbers is not None else k + 1
        ids = tokenizer.encode(text)
        if not ids:
            raise ValueError(f"source line {line} is empty; there is nothing to translate")
        fitted = _fit_length(ids, max_len, too_long, f"source line {line}")
        cut += len(fitted) < len(ids)
        out.append(fitted)
    return out, cut


class ParallelDataset(Dataset):
    """Encoded sentence pairs: item i is ``(src_ids, tgt_ids)`` (no ``<bos>``/``<eos>``).

    Args:
        src, tgt: aligned sentences (e.g. a ``ParallelText``'s ``src`` and ``tgt``).
        src_tokenizer, tgt_tokenizer: fitted tokenizers (``WordTokenizer``).
        max_len: the most tokens per side; None for no limit.
        too_long: "truncate" (keep the first ``max_len`` tokens, counted in ``truncated``)
            or "error".
        line_numbers: the pairs' lines in the files, for error messages.
    """

    def __init__(self, src: Sequence[str], tgt: Sequence[str], src_tokenizer, tgt_tokenizer,
                 max_len: int | None = 100, too_long: str = "truncate",
                 line_numbers: Sequence[int] | None = None):
        _check_modes(max_len, too_long)
        if len(src) != len(tgt):
            raise ValueError(f"ParallelDataset: expected as many targets as sources, got "
                             f"{len(src)} sources and {len(tgt)} targets")
        self.pairs: list[tuple[list[int], list[int]]] = []
        self.truncated = 0  # pairs with a side cut to max_len
        for k, (s, t) in enumerate(zip(src, tgt, strict=True)):
            line = line_numbers[k] if line_numbers is not None else k + 1
            s_ids, t_ids = src_tokenizer.encode(s), tgt_tokenizer.encode(t)
            if not s_ids or not t_ids:
                side = "source" if not s_ids else "target"
                raise ValueError(f"ParallelDataset: the {side} of pair {line} has no tokens")
            s_fit = _fit_length(s_ids, max_len, too_long, f"source line {line}")
            t_fit = _fit_length(t_ids, max_len, too_long, f"target line {line}")
            self.truncated += len(s_fit) < len(s_ids) or len(t_fit) < len(t_ids)
            self.pairs.append((s_fit, t_fit))

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.pairs[i]

    def lengths(self) -> list[int]:
        """Per pair, the longer side's length: what ``LengthBuckets`` sorts by."""
        return [max(len(s), len(t)) for s, t in self.pairs]


def collate_pairs(items: Sequence[tuple[list[int], list[int]]]):
    """``[(src_ids, tgt_ids), ...]`` → ``((src, src_lengths, tgt_in), tgt_out)``; see above."""
    src, src_lengths = pad_sequences([s for s, _ in items])  # (B, S), (B,)
    tgt_in, _ = pad_sequences([[BOS_ID] + list(t) for _, t in items], value=PAD_ID)  # (B, T)
    tgt_out, _ = pad_sequences([list(t) + [EOS_ID] for _, t in items], value=IGNORE_INDEX)
    return (src, src_lengths, tgt_in), tgt_out


class LengthBuckets(Sampler):
    """Batches of indices of similar length, in a fresh seeded order every epoch.

    Each epoch: shuffle all indices, cut them into pools of ``pool`` batches, sort each pool by
    length, cut it into batches, and shuffle the batches. ``shuffle=False`` gives batches of
    consecutive indices (for evaluation, keeping order).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True,
                 seed: int = 0, pool: int = 50):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"LengthBuckets: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        self.lengths, self.batch_size, self.shuffle, self.pool = list(lengths), batch_size, \
            shuffle, pool
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[list[int]]:
        n, B = len(self.lengths), self.batch_size
        if not self.shuffle:
            yield from ([*range(i, min(i + B, n))] for i in range(0, n, B))
            return
        order = torch.randperm(n, generator=self.generator).tolist()
        batches = []
        for start in range(0, n, B * self.pool):
            chunk = sorted(order[start:start + B * self.pool], key=self.lengths.__getitem__)
            batches += [chunk[i:i + B] for i in range(0, len(chunk), B)]
        for k in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[k]

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def parallel_loader(dataset: ParallelDataset, batch_size: int = 64, shuffle: bool = True,
                    seed: int = 0) -> DataLoader:
    """A ``DataLoader`` of length-bucketed batches in ``rnnkit.fit``'s form (see above)."""
    sampler = LengthBuckets(dataset.lengths(), batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_pairs)


def reversal_pairs(num_pairs: int, vocab: int = 10, min_len: int = 3, max_len: int = 8,
                   seed: int = 0) -> tuple[list[str], list[str]]:
    """A generated task: source "w3 w1 w7", target "w7 w1 w3" (words ``w0`` … ``w{vocab-1}``).

    Lengths are uniform in [min_len, max_len]; the same seed gives the same pairs.
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"reversal_pairs: expected 1 <= min_len <= max_len, got {min_len} and "
                         f"{max_len}")
    g = torch.Generator().manual_seed(seed)
    src, tgt = [], []
    for _ in range(num_pairs):
        n = int(torch.randint(min_len, max_len + 1, (1,), generator=g))
        words = [f"w{int(i)}" for i in torch.randint(0, vocab, (n,), generator=g)]
        src.append(" ".join(words))
        tgt.append(" ".join(reversed(words)))
    return src, tgt
