"""Tokenizers: text <-> integer ids, for characters and for words.

Both tokenizers share one vocabulary layout, so every model, dataset and padding helper can
rely on it::

    id 0  <pad>   padding (embeddings and losses may ignore it)
    id 1  <unk>   anything the vocabulary lacks
    id 2  <bos>   beginning of a sequence
    id 3  <eos>   end of a sequence
    id 4… tokens  most frequent first (words) or in code-point order (characters)

Typical use::

    tok = WordTokenizer(max_size=10_000, min_freq=2).fit(train_sentences)
    ids = tok.encode("The sky is blue.", add_eos=True)   # [the, sky, is, blue, ., <eos>]
    tok.decode(ids)                                      # "the sky is blue."
    batch, lengths = tok.encode_batch(["a b", "c"])      # (2, 2) right-padded with 0
    tok2 = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))

A tokenizer is saved as plain JSON (``to_dict`` / ``from_dict``), which is how checkpoints
carry it (in ``extras``). ``CharTokenizer`` is lossless on its vocabulary:
``decode(encode(s)) == s`` for every string made of characters it has seen.
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

__all__ = ["CharTokenizer", "WordTokenizer", "tokenizer_from_dict", "pad_sequences", "SPECIALS",
           "PAD", "UNK", "BOS", "EOS", "PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID"]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3

PUNCTUATION_MODES = ("split", "strip", "keep")
# a word keeps inner apostrophes and hyphens ("don't", "long-term"); anything else that is
# neither a word character nor a space is one punctuation token
_WORD = r"\w+(?:['’\-]\w+)*"
_WORD_OR_PUNCT = re.compile(rf"{_WORD}|[^\w\s]")
_WORD_ONLY = re.compile(_WORD)
# no space before these when words are joined back into text, and none after the openers
_NO_SPACE_BEFORE = set(".,;:!?)]}%'’”…")
_NO_SPACE_AFTER = set("([{“$")


class _Vocabulary:
    """The shared part: the id <-> token tables, specials, encoding, batching and JSON."""

    kind = "base"

    def __init__(self, max_size: int | None = None, min_freq: int = 1):
        name = type(self).__name__
        if max_size is not None and (not isinstance(max_size, int) or isinstance(max_size, bool)
                                     or max_size <= len(SPECIALS)):
            raise ValueError(f"{name}: max_size must be an integer above {len(SPECIALS)} (it "
                             f"counts the specials {', '.join(SPECIALS)}), got {max_size!r}")
        if not isinstance(min_freq, int) or isinstance(min_freq, bool) or min_freq < 1:
            raise ValueError(f"{name}: min_freq must be a positive integer, got {min_freq!r}")
        self.max_size, self.min_freq = max_size, min_freq
        self.itos: list[str] = list(SPECIALS)
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}

    # the ids of the specials, fixed for every tokenizer
    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def tokenize(self, text: str) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _join(self, tokens: list[str]) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _order(self, counts: Counter) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    # ------------------------------------------------------------------------------ fit
    def fit(self, texts: str | Iterable[str]):
        """Build the vocabulary from a text or an iterable of texts; returns ``self``.

        Tokens seen fewer than ``min_freq`` times are dropped; of the rest the ``max_size - 4``
        most frequent are kept (ties: first seen first). Refitting replaces the vocabulary.
        """
        name = type(self).__name__
        if isinstance(texts, str):
            texts = [texts]
        counts: Counter = Counter()
        for text in texts:
            if not isinstance(text, str):
                raise ValueError(f"{name}.fit: expected a string or strings, got "
                                 f"{type(text).__name__}")
            counts.update(self.tokenize(text))
        for special in SPECIALS:
            counts.pop(special, None)
        kept = [t for t, n in counts.items() if n >= self.min_freq]  # first-seen order
        kept.sort(key=lambda t: -counts[t])  # stable: ties stay in first-seen order
        if self.max_size is not None:
            kept = kept[: self.max_size - len(SPECIALS)]
        if not kept:
            raise ValueError(f"{name}.fit: no token occurs at least min_freq={self.min_freq} "
                             "times in the text")
        self.itos = list(SPECIALS) + self._order(Counter({t: counts[t] for t in kept}))
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        return self

    # ------------------------------------------------------------------- encode / decode
    @property
    def vocab_size(self) -> int:
        """Number of ids, specials included (the model's embedding and output size)."""
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` outside the vocabulary, in order of appearance."""
        return list(dict.fromkeys(t for t in self.tokenize(text) if t not in self.stoi))

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Ids of ``text``'s tokens; unknown tokens become ``<unk>`` (1)."""
        if not isinstance(text, str):
            raise ValueError(f"{type(self).__name__}.encode: expected a string, got "
                             f"{type(text).__name__}")
        ids = [self.stoi.get(t, UNK_ID) for t in self.tokenize(text)]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int] | torch.Tensor, skip_specials: bool = True) -> str:
        """Text of ``ids``. ``skip_specials`` drops <pad>, <bos> and <eos>; <unk> is shown."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"{type(self).__name__}.decode: id {i} outside the vocabulary "
                                 f"[0, {len(self.itos)})")
            if skip_specials and i in (PAD_ID, BOS_ID, EOS_ID):
                continue
            tokens.append(self.itos[i])
        return self._join(tokens)

    def encode_batch(self, texts: Sequence[str], max_length: int | None = None,
                     add_bos: bool = False, add_eos: bool = False,
                     padding: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
        """Encode and pad several texts: ``(ids (B, T) long, lengths (B,) long)``.

        Sequences longer than ``max_length`` are cut to it (keeping the start); shorter ones
        are padded with ``<pad>`` (0) on the ``padding`` side ("right" for ``rnnkit.RNN``'s
        ``lengths=``, "left" for the pre-padded form Keras uses). An empty text becomes one
        ``<unk>``, so every length is at least 1 (as ``rnnkit.RNN`` requires).
        """
        if padding not in ("right", "left"):
            raise ValueError(f"{type(self).__name__}.encode_batch: padding must be 'right' or "
                             f"'left', got {padding!r}")
        seqs = [self.encode(t, add_bos=add_bos, add_eos=add_eos) or [UNK_ID] for t in texts]
        if max_length is not None:
            seqs = [s[:max_length] for s in seqs]
        return pad_sequences(seqs, padding=padding)

    # ----------------------------------------------------------------------------- JSON
    def _options(self) -> dict:
        return {"max_size": self.max_size, "min_freq": self.min_freq}

    def to_dict(self) -> dict:
        """A JSON-able dict: the class, its options and the vocabulary in id order."""
        return {"type": type(self).__name__, **self._options(), "itos": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict):
        """Rebuild a tokenizer saved with ``to_dict``; anything malformed (an unknown or
        ill-typed option, no ``itos`` table, a non-string or duplicated entry) is a
        ``ValueError`` naming it."""
        name = f"{cls.__name__}.from_dict"
        if not isinstance(d, dict) or d.get("type") != cls.__name__:
            got = d.get("type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"{name}: expected type {cls.__name__!r}, got {got!r}")
        options = {k: v for k, v in d.items() if k not in ("type", "itos")}
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(set(options) - known, key=str)
        if unknown:
            raise ValueError(f"{name}: unknown option {unknown[0]!r} (known: "
                             f"{', '.join(sorted(known))})")
        if "lower" in options and not isinstance(options["lower"], bool):
            raise ValueError(f"{name}: lower must be true or false, got {options['lower']!r}")
        tok = cls(**options)
        itos = d.get("itos")
        if not isinstance(itos, list):
            raise ValueError(f"{name}: the vocabulary table 'itos' must be a list of tokens, "
                             f"got {'nothing' if itos is None else type(itos).__name__}")
        bad = next((i for i, t in enumerate(itos) if not isinstance(t, str) or not t), None)
        if bad is not None:
            raise ValueError(f"{name}: vocabulary entry {bad} is {itos[bad]!r}, not a token")
        if itos[: len(SPECIALS)] != list(SPECIALS):
            raise ValueError(f"{name}: the vocabulary must start with {', '.join(SPECIALS)}")
        if len(set(itos)) != len(itos):
            seen: set[str] = set()
            dup = next(t for t in itos if t in seen or seen.add(t))
            raise ValueError(f"{name}: the vocabulary lists {dup!r} twice (ids "
                             f"{', '.join(str(i) for i, t in enumerate(itos) if t == dup)})")
        tok.itos, tok.stoi = itos, {s: i for i, s in enumerate(itos)}
        return tok

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        return f"{type(self).__name__}({options}, vocab_size={self.vocab_size})"


class CharTokenizer(_Vocabulary):
    """One token per character; lossless: ``decode(encode(s)) == s`` on its vocabulary.

    Args:
        lower: lower-case text before tokenizing (then decoding is lossless up to case).
        max_size: keep at most this many ids, the 4 specials included (most frequent chars).
        min_freq: drop characters seen fewer times.

    Characters are numbered in code-point order after the specials, as char-rnn does.

    Example:
        >>> tok = CharTokenizer().fit("hello world")
        >>> tok.vocab_size, tok.encode("hello")[:2]
        (12, [7, 6])
        >>> tok.decode(tok.encode("hello"))
        'hello'
    """

    kind = "char"

    def __init__(self, lower: bool = False, max_size: int | None = None, min_freq: int = 1):
        super().__init__(max_size, min_freq)
        self.lower = bool(lower)

    def tokenize(self, text: str) -> list[str]:
        return list(text.lower() if self.lower else text)

    def _join(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def _order(self, counts: Counter) -> list[str]:
        return sorted(counts)

    def _options(self) -> dict:
        return {"lower": self.lower, **super()._options()}


class WordTokenizer(_Vocabulary):
    """Words (and optionally punctuation marks) as tokens, most frequent first.

    Args:
        lower: lower-case text first (default True).
        punctuation: ``"split"`` — each punctuation mark is its own token (default);
            ``"strip"`` — punctuation is dropped; ``"keep"`` — split on whitespace only, so
            marks stay attached (``"blue."`` is one token).
        max_size: keep at most this many ids, the 4 specials included (most frequent words).
        min_freq: words seen fewer times map to ``<unk>``.

    A word keeps inner apostrophes and hyphens (``don't``, ``long-term``). ``decode`` joins
    tokens with spaces, without a space before closing punctuation.

    Example:
        >>> tok = WordTokenizer().fit(["The sky is blue.", "The sea is blue too!"])
        >>> tok.encode("the sky is green")
        [4, 7, 5, 1]
        >>> tok.decode(tok.encode("The sky is blue."))
        'the sky is blue.'
    """

    kind = "word"

    def __init__(self, lower: bool = True, punctuation: str = "split",
                 max_size: int | None = None, min_freq: int = 1):
        if punctuation not in PUNCTUATION_MODES:
            raise ValueError(f"WordTokenizer: punctuation must be one of "
                             f"{', '.join(PUNCTUATION_MODES)}, got {punctuation!r}")
        super().__init__(max_size, min_freq)
        self.lower, self.punctuation = bool(lower), punctuation

    def tokenize(self, text: str) -> list[str]:
        if self.lower:
            text = text.lower()
        if self.punctuation == "keep":
            return text.split()
        pattern = _WORD_OR_PUNCT if self.punctuation == "split" else _WORD_ONLY
        return pattern.findall(text)

    def _join(self, tokens: list[str]) -> str:
        out = ""
        for t in tokens:
            if out and not (t in _NO_SPACE_BEFORE or out[-1] in _NO_SPACE_AFTER):
                out += " "
            out += t
        return out

    def _order(self, counts: Counter) -> list[str]:
        return list(counts)  # already most frequent first

    def _options(self) -> dict:
        return {"lower": self.lower, "punctuation": self.punctuation, **super()._options()}


def pad_sequences(seqs: Sequence[Sequence[int]], length: int | None = None,
                  padding: str = "right", value: int = PAD_ID
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists to one length: ``(ids (B, T) long, lengths (B,) long)``.

    ``length`` defaults to the longest sequence; longer sequences are cut, keeping their
    start for right padding and their end for left padding (the part next to the label).
    """
    if padding not in ("right", "left"):
        raise ValueError(f"pad_sequences: padding must be 'right' or 'left', got {padding!r}")
    if len(seqs) == 0:
        raise ValueError("pad_sequences: expected at least one sequence, got none")
    T = max(len(s) for s in seqs) if length is None else length
    out = torch.full((len(seqs), T), value, dtype=torch.long)
    lengths = torch.zeros(len(seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        s = list(s)[:T] if padding == "right" else list(s)[max(0, len(s) - T):]
        if s:
            if padding == "right":
                out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            else:
                out[i, T - len(s):] = torch.tensor(s, dtype=torch.long)
        lengths[i] = len(s)
    return out, lengths


_CLASSES = {cls.__name__: cls for cls in (CharTokenizer, WordTokenizer)}


def tokenizer_from_dict(d: dict) -> CharTokenizer | WordTokenizer:
    """Rebuild whichever tokenizer ``d`` (from ``to_dict``) describes."""
    kind = d.get("type") if isinstance(d, dict) else None
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        got = d.get("type") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"tokenizer_from_dict: expected type CharTokenizer or WordTokenizer, "
                         f"got {got!r}")
    return cls.from_dict(d)
