"""Text generation: train a char- or word-level language model, then sample from it.

The application of ``rnnkit textgen train|sample|evaluate`` (char-rnn in PyTorch), in the
shape every ``rnnkit.apps`` application has:

- ``Config``: the run's settings (stored in the checkpoint);
- ``train(config, text, checkpoint)``: tokenize, split (first 90 % train, last 10 %
  validation), train a ``LanguageModel`` with ``rnnkit.fit`` by truncated BPTT over
  ``StreamBatches``; after each epoch ``fit`` measures the exact validation loss
  (``stream_loss``, its ``monitor``) and keeps the best epoch in ``checkpoint``
  (``save_best``; the tokenizer and the config travel in the extras);
- ``load(checkpoint)`` -> ``TextGenPredictor``: ``predict``/``stream`` continue a prompt
  (sampling or beam search), ``evaluate`` scores a text.

Validation losses are in nats per token (per character at char level). ``stream_loss`` is
the recurrent model's figure: the whole split, read in a few parallel streams with the state
carried. ``block_loss`` is the transformer-style figure: random fixed-length blocks, each read
from a zero state, every position scored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import checkpoint
from ..config_dict import config_from_dict
from ..data.text import StreamBatches, read_text, split_text
from ..data.tokenizers import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    CharTokenizer,
    WordTokenizer,
    tokenizer_from_dict,
)
from ..generate import beam_generate, check_sampling, stream
from ..models.language_model import LanguageModel
from ..runtime import check_memory, evaluating, resolve_device, seed_everything
from ..state_tree import tree_map
from ..train import History, fit
from ..training.lr_progress import SCHEDULES, Clock, LRByProgress, done_so_far, lr_factor
from ..training.options import make_optimizer as build_optimizer
from ..validate import finite_float, non_negative_int, positive_float, positive_int
from .base import Predictor, check_task_folder, load_checkpoint, register_app
from .extras_check import check_size, reading_extras
from .fingerprint import fingerprint
from .finished import say_finished, spent_epochs

__all__ = ["TASK", "Config", "TextGenConfig", "train", "load", "TextGenPredictor",
           "stream_loss", "block_loss", "sample_text", "lr_factor", "LRByProgress", "Clock",
           "LEVELS", "SCHEDULES"]

TASK = "textgen"
CELL_KINDS = ("lstm", "gru", "rnn", "mingru", "minlstm", "ln_lstm", "ln_gru")
LEVELS = ("char", "word")
PRECISIONS = ("fp32", "bf16")


@dataclass
class Config:
    """Everything that defines a text-generation run (stored in the checkpoint).

    The defaults are the best of a short sweep on Tiny Shakespeare for a 95-second budget on
    2 CPU threads (1x512 LSTM, 64 streams of 64 steps, Adam 5e-3 with cosine decay over the
    run): see BENCHMARKS.md, "Tiny Shakespeare".
    """

    level: str = "char"  # "char" or "word" tokens
    cell: str = "lstm"  # recurrent cell: lstm | gru | rnn | mingru | minlstm | ln_lstm | ln_gru
    num_layers: int = 1  # stacked recurrent layers
    hidden_size: int = 512  # H of each layer
    embedding_dim: int | None = None  # E; None: 64 at char level, H at word level
    dropout: float = 0.0  # between layers and before the output layer
    embedding_dropout: float | None = None  # on the embeddings; None: the same as dropout
    tie_weights: bool = False  # share the embedding with the output layer (needs E == H)
    seq_len: int = 64  # truncated-BPTT chunk length (steps per gradient)
    batch_size: int = 64  # parallel streams per batch
    lr: float = 5e-3  # Adam's peak learning rate
    weight_decay: float = 0.0  # > 0: AdamW's decoupled weight decay instead of plain Adam
    schedule: str = "cosine"  # lr over the run (by time with a budget): cosine|linear|constant
    final_lr_ratio: float = 0.05  # lr at the end of the run, as a share of lr
    warmup: float = 0.02  # share of the run with a linear lr warm-up
    clip_norm: float | None = 1.0  # global gradient-norm clipping (None: off)
    precision: str = "fp32"  # "fp32", or "bf16": matmuls and the LSTM kernel under autocast
    val_fraction: float = 0.1  # the last share of the text held out for validation
    lower: bool = False  # lower-case the text (word level: usually True)
    min_freq: int = 1  # word level: rarer words become <unk>
    max_vocab: int | None = None  # word level: keep at most this many ids
    epochs: int | None = None  # passes over the training text (None: 10, or the minutes)
    minutes: float | None = None  # training time budget; the lr decays over it (the last
    # epoch's validation, sample and save come after it)
    sample_length: int = 200  # tokens of the sample printed after each epoch (0: none)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.cell not in CELL_KINDS:
            raise ValueError(f"cell must be one of {', '.join(CELL_KINDS)}, got {self.cell!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{self.precision!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                             f"{self.schedule!r}")
        for name in ("num_layers", "hidden_size", "seq_len", "batch_size", "min_freq"):
            positive_int(name, getattr(self, name))
        for name in ("embedding_dim", "max_vocab", "epochs"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.minutes is not None:
            positive_float("minutes", self.minutes)
        if self.epochs is not None and self.minutes is not None:
            raise ValueError("epochs and minutes: give one of them, not both")
        non_negative_int("sample_length", self.sample_length)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.embedding_dropout is not None and not 0.0 <= self.embedding_dropout < 1.0:
            raise ValueError(f"embedding_dropout must lie in [0, 1), got "
                             f"{self.embedding_dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {self.clip_norm!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in (0, 1), got {self.val_fraction!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must lie in [0, 1), got {self.warmup!r}")
        if not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ValueError(f"final_lr_ratio must lie in [0, 1], got {self.final_lr_ratio!r}")
        if self.max_vocab is not None and self.max_vocab <= 4:
            raise ValueError(f"max_vocab must be above 4 (it counts <pad> <unk> <bos> <eos>), "
                             f"got {self.max_vocab}")
        if self.tie_weights and self.embedding_size() != self.hidden_size:
            raise ValueError(f"tie_weights needs the embedding size ({self.embedding_size()}) "
                             f"to equal hidden size ({self.hidden_size})")

    def embedding_size(self) -> int:
        if self.embedding_dim is not None:
            return self.embedding_dim
        return 64 if self.level == "char" else self.hidden_size

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        return config_from_dict(cls, d)


TextGenConfig = Config  # the 0.1.0 name


# ------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def stream_loss(model: nn.Module, ids: Tensor | list[int], num_streams: int = 4,
                seq_len: int = 1024) -> float:
    """Mean next-token cross-entropy (nats) over *every* target of ``ids``, read statefully.

    ``ids`` is cut into ``num_streams`` contiguous streams read in parallel, ``seq_len`` steps
    per call, the state carried from call to call; the few targets left over after the equal
    streams continue the last stream from its state. Every token after the first is scored
    exactly once and the mean weighs each token equally.
    """
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    if len(ids) < 2:
        raise ValueError(f"stream_loss: need at least 2 tokens, got {len(ids)}")
    device = next(model.parameters()).device
    num_streams = max(1, min(num_streams, (len(ids) - 1)))
    batches = StreamBatches(ids, num_streams, seq_len)
    total, state = 0.0, None
    with evaluating(model):
        for x, y in batches:
            logits, state = model(x.to(device), state)
            total += _nll_sum(logits, y.to(device))
        n = batches.num_tokens  # targets ids[1 .. n] scored; the last stream ends at ids[n - 1]
        if len(ids) - 1 > n:  # the few targets past the equal streams continue the last stream
            last_state = _select_stream(state, num_streams - 1)
            x, y = ids[n:-1].view(1, -1), ids[n + 1:].view(1, -1)
            logits, _ = model(x.to(device), last_state)
            total += _nll_sum(logits, y.to(device))
    return total / (len(ids) - 1)


def _nll_sum(logits: Tensor, targets: Tensor) -> float:
    return float(F.cross_entropy(_wide(logits.flatten(0, 1)), targets.flatten(),
                                 reduction="sum"))


def _wide(x: Tensor) -> Tensor:
    """At least float32 (bf16/fp16 logits are summed in float32; float64 stays)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _select_stream(state, b: int):
    return tree_map(lambda t: t[:, b:b + 1].contiguous(), state)


@torch.no_grad()
def block_loss(model: nn.Module, ids: Tensor | list[int], block_size: int = 256,
               num_blocks: int = 1000, batch_size: int = 50, seed: int = 1337) -> float:
    """Transformer-style loss: ``num_blocks`` random blocks, each from a zero state.

    As nanoGPT's ``estimate_loss``: a block is ``ids[i : i + block_size]`` with targets shifted
    by one; all positions of all blocks are averaged. Block starts come from ``seed``.
    """
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()
    if len(ids) <= block_size:
        raise ValueError(f"block_loss: need more than {block_size} tokens, got {len(ids)}")
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(ids) - block_size, (num_blocks,), generator=g)
    total = 0.0
    with evaluating(model):
        for part in starts.split(batch_size):
            x = torch.stack([ids[i:i + block_size] for i in part.tolist()])
            y = torch.stack([ids[i + 1:i + 1 + block_size] for i in part.tolist()])
            logits, _ = model(x.to(device))
            total += _nll_sum(logits, y.to(device))
    return total / (num_blocks * block_size)


# --------------------------------------------------------------------------------- training
def make_tokenizer(config: Config):
    if config.level == "char":
        return CharTokenizer(lower=config.lower)
    return WordTokenizer(lower=config.lower, min_freq=config.min_freq,
                         max_size=config.max_vocab)


def encode_text(tokenizer, text: str) -> list[int]:
    """Char level: every character. Word level: each line's words, then ``<eos>``."""
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.encode(text)
    ids: list[int] = []
    for line in text.splitlines():
        words = tokenizer.encode(line)
        if words:
            ids += words + [EOS_ID]
    return ids


def start_ids(tokenizer) -> list[int]:
    """What an empty prompt starts from: a newline (char level) or ``<eos>`` (word level),
    i.e. the start of a new line, as in training."""
    if isinstance(tokenizer, CharTokenizer):
        return [tokenizer.stoi["\n"]] if "\n" in tokenizer.stoi else []
    return [EOS_ID]


def prepare(text: str, config: Config):
    """Check the config and the text and tokenize it: ``(tokenizer, train_ids, val_ids)``.

    Raises ``ValueError`` when the text is too short for the split and the batch shape.
    """
    config.check()
    train_text_, val_text = split_text(text, config.val_fraction,
                                       between_words=config.level == "word")
    tok = make_tokenizer(config)
    if not train_text_.strip():  # a text of a few characters: its first share is empty
        raise ValueError(f"the text is too short: its first {1 - config.val_fraction:.0%} "
                         f"(the training part) is empty; use a longer text")
    try:
        tok.fit(train_text_)
    except ValueError as e:
        raise ValueError(f"the training part of the text has no usable tokens ({e})") from None
    train_ids, val_ids = encode_text(tok, train_text_), encode_text(tok, val_text)
    unit = "characters" if config.level == "char" else "words"
    if len(train_ids) < config.batch_size + 1:
        raise ValueError(f"the text is too short: {len(train_ids)} training {unit} for "
                         f"batch_size {config.batch_size}; use a longer text or a smaller "
                         "batch_size")
    if len(val_ids) < 2:
        raise ValueError(f"the text is too short: its last {config.val_fraction:.0%} holds "
                         f"{len(val_ids)} {unit}, too few to validate on; use a longer text")
    return tok, torch.tensor(train_ids), torch.tensor(val_ids)


class Autocast(nn.Module):
    """Run a language model under ``torch.autocast`` (bf16); logits come back as float32.

    Only for training: the wrapped model and its float32 weights are what gets saved.
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.module, self.dtype = model, dtype  # ``.module``: what fit saves

    def forward(self, tokens: Tensor, state=None):
        device = tokens.device.type
        with torch.autocast(device, dtype=self.dtype):
            logits, state = self.module(tokens, state)
        return logits.float(), state


def make_optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    """Adam at ``config.lr``, or AdamW when ``config.weight_decay`` > 0 (``fit``'s factory)."""
    name = "adamw" if config.weight_decay > 0 else "adam"
    return build_optimizer(name, model, config.lr, config.weight_decay)


def trainable(model: nn.Module, config: Config) -> nn.Module:
    """The module ``fit`` trains: the model itself, or its ``Autocast`` wrapper for bf16."""
    return Autocast(model) if config.precision == "bf16" else model


def build_model(config: Config, vocab_size: int) -> LanguageModel:
    return LanguageModel(vocab_size, config.hidden_size, config.num_layers, cell=config.cell,
                         embedding_dim=config.embedding_size(), dropout=config.dropout,
                         embedding_dropout=config.embedding_dropout,
                         tie_weights=config.tie_weights)


def train(config: Config, text: str | None = None, checkpoint_dir: str | Path | None = None,
          *, path: str | Path | None = None, encoding: str = "utf-8", seed: int | None = 0,
          device: str = "auto", quiet: bool = False, resume: bool = False,
          log: Callable[[str], None] | None = None) -> History:
    """Train a language model on ``text`` (or the file ``path``); keep the best in
    ``checkpoint_dir``.

    Trains for ``config.epochs`` passes over the training part, or ``config.minutes`` of
    wall-clock time (default: 10 epochs). After each epoch ``fit`` measures the exact
    validation loss (``stream_loss``) and saves the model when it improves; unless ``quiet``
    a line and a short sample are printed. Everything is checked before anything is written.
    ``resume`` continues the run stored in ``checkpoint_dir`` (exactly, for an epoch count).

    Returns ``fit``'s ``History`` (rows with ``val_loss``, ``best_epoch``); the trained
    model and its tokenizer are ``history.model`` and ``history.tokenizer``.
    """
    log = log or (lambda s: print(s, flush=True))
    if text is None:
        if path is None:
            raise ValueError("textgen.train: pass text or path")
        text = read_text(path, encoding=encoding)
    tok, train_ids, val_ids = prepare(text, config)
    ckpt = None if checkpoint_dir is None else checkpoint.check_folder(checkpoint_dir)
    if ckpt is not None:
        check_task_folder(ckpt, TASK)
    dev = resolve_device(device)
    epochs = config.epochs if config.epochs is not None else None if config.minutes else 10
    done_steps, done_s = done_so_far(ckpt) if resume else (0, 0.0)
    # a run that ended on its budget, given no more time: resuming it trains nothing
    epochs = (spent_epochs(ckpt, config.minutes, "textgen", "minutes") if resume
              else None) or epochs

    seed_everything(seed)
    model = build_model(config, tok.vocab_size).to(dev)
    batches = StreamBatches(train_ids, config.batch_size, config.seq_len)
    opt = make_optimizer(model, config)
    budget = None if config.minutes is None else config.minutes * 60.0
    clock = Clock()
    schedule = LRByProgress(opt, config, total_steps=None if budget else epochs * len(batches),
                            budget_s=budget, steps=done_steps,
                            clock=lambda: clock() + done_s)
    if not quiet:
        n_params = sum(p.numel() for p in model.parameters())
        log(f"textgen: {config.level} level, vocabulary {tok.vocab_size}, "
            f"{len(train_ids):,} training / {len(val_ids):,} validation tokens; "
            f"{config.num_layers}x{config.hidden_size} {config.cell}, {n_params:,} parameters, "
            f"batches of {config.batch_size}x{config.seq_len}, "
            + (f"{config.minutes:g} min" if budget
               else f"{epochs} epoch{'' if epochs == 1 else 's'}") + f" on {dev.type}")

    def val_loss(_model) -> float:
        return stream_loss(model, val_ids)

    report = _EpochReport(model, tok, config, clock, quiet, log, start_ids(tok)
                          or [int(train_ids[0])])
    history = fit(trainable(model, config), batches, epochs=epochs or 10**9,
                  loss="cross_entropy", optimizer=opt, clip_norm=config.clip_norm,
                  tbptt=config.seq_len, callbacks=(schedule, report), seed=seed, device=dev,
                  progress=False, time_budget=None if budget is None else max(1.0, budget -
                                                                                done_s),
                  monitor=val_loss, save_best=ckpt, checkpoint_dir=ckpt, resume=resume,
                  restore_best=False, extras={"task": TASK, "tokenizer": tok.to_dict(),
                                              "textgen": asdict(config),
                                              "data": fingerprint([train_ids], len(train_ids))})
    history.model, history.tokenizer = model, tok
    if history.already_finished:  # the stored run was complete
        say_finished(TASK, ckpt, len(history))
    elif ckpt is not None:
        history.plot(ckpt / "history.png")
    return history


class _EpochReport:
    """The ``fit`` callback printing an epoch's line and a short sample (unless quiet)."""

    def __init__(self, model, tok, config, clock, quiet, log, prompt):
        self.model, self.tok, self.config, self.clock = model, tok, config, clock
        self.quiet, self.log, self.prompt = quiet, log, prompt

    def __call__(self, event: str, info: dict):
        if event != "epoch_end" or self.quiet:
            return None
        unit = "char" if self.config.level == "char" else "word"
        best = info["history"].best_epoch == info["epoch"]
        self.log(f"epoch {info['epoch']:3d}  train {info['train_loss']:.4f}  val "
                 f"{info['val_loss']:.4f} nats/{unit}  {self.clock():7.1f} s"
                 + ("  (best, saved)" if best else ""))
        if self.config.sample_length:
            new = list(stream(self.model, self.prompt, self.config.sample_length,
                              temperature=0.8, top_k=40, seed=info["epoch"],
                              suppress_ids=never_drawn(self.tok)))
            sample = self.tok.decode(self.prompt + new).strip("\n")
            self.log("  sample: " + sample.replace("\n", "\n          "))
        return None


# --------------------------------------------------------------------------------- sampling
class TextGenPredictor(Predictor):
    """A trained language model with its tokenizer: continue prompts, score texts.

    ``predict(prompt, length=200, temperature=1.0, top_k=None, top_p=None, seed=None,
    repetition_penalty=1.0, beam=None, length_penalty=1.0, stop_at_eos=True,
    include_prompt=False) -> str``: the continuation of ``prompt`` (with the prompt first,
    as typed, when ``include_prompt``). ``stream(...)``: the same, as text pieces
    while they are generated (no beam). ``evaluate(text) -> {"loss", "perplexity", "tokens",
    "unknown"}``: nats per token read statefully (``stream_loss``); ``unknown`` counts the
    tokens outside the vocabulary, scored as ``<unk>``.
    """

    task = TASK

    def __init__(self, model, config, tokenizer, path=None):
        super().__init__(model, config, path)
        self.tokenizer = tokenizer

    def stream(self, prompt: str = "", length: int = 200, *, include_prompt: bool = False,
               **options) -> Iterator[str]:
        pieces = sample_text(self.model, self.tokenizer, prompt, length, beam=None, **options)
        first = next(pieces)
        if include_prompt:
            yield first
        yield from pieces

    def predict(self, prompt: str = "", length: int = 200, *, beam: int | None = None,
                length_penalty: float = 1.0, include_prompt: bool = False, **options) -> str:
        pieces = sample_text(self.model, self.tokenizer, prompt, length, beam=beam,
                             length_penalty=length_penalty, **options)
        first = next(pieces)
        return (first if include_prompt else "") + "".join(pieces)

    def evaluate(self, text: str) -> dict[str, float]:
        ids = encode_text(self.tokenizer, text)
        loss = stream_loss(self.model, ids)
        return {"loss": loss, "perplexity": math.exp(loss), "tokens": len(ids),
                "unknown": sum(1 for i in ids if i == UNK_ID)}  # scored as <unk>


def load(path: str | Path, device: str = "cpu") -> TextGenPredictor:
    """The ``TextGenPredictor`` of a textgen checkpoint (0.1.0 ones included)."""
    model, extras = load_checkpoint(path, LanguageModel, device, app="textgen",
                                    accepts=lambda e: "tokenizer" in e,
                                    refused="holds no tokenizer; is it a textgen checkpoint?")
    with reading_extras(path, "textgen config"):
        config = Config.from_dict(extras.get("textgen", {}))
    with reading_extras(path, "tokenizer"):
        tok = tokenizer_from_dict(extras["tokenizer"])
    check_size(path, "tokenizer", tok.vocab_size, model, "vocab_size")
    return TextGenPredictor(model, config, tok, path)


register_app(TASK, load)


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids; a char-level prompt with characters outside the vocabulary is an error."""
    if isinstance(tokenizer, CharTokenizer):
        unknown = tokenizer.unknown(prompt)
        if unknown:
            shown = ", ".join(repr(c) for c in unknown)
            raise ValueError(f"the prompt has {len(unknown)} character(s) outside the model's "
                             f"vocabulary: {shown}")
        return tokenizer.encode(prompt)
    return [EOS_ID] + tokenizer.encode(prompt)  # a prompt starts a new line, as in training


def never_drawn(tokenizer) -> list[int]:
    """Tokens that are no text: <pad>, <bos>, <unk> (it would print as "<unk>"), and <eos>
    at char level (lines end in "\n" there); word level's <eos> is a line break."""
    return [PAD_ID, BOS_ID, UNK_ID] + ([] if isinstance(tokenizer, WordTokenizer) else [EOS_ID])


def sample_text(model: nn.Module, tokenizer, prompt: str = "", length: int = 500, *,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                repetition_penalty: float = 1.0, beam: int | None = None,
                length_penalty: float = 1.0, stop_at_eos: bool = True,
                seed: int | None = None) -> Iterator[str]:
    """Continue ``prompt`` by up to ``length`` tokens; yields text pieces as they come.

    The first piece is the prompt itself, as typed. Word-level models stop at ``<eos>`` (the
    end of a line) when ``stop_at_eos``; otherwise ``<eos>`` is shown as a line break. With
    ``beam`` the best beam-search continuation is yielded whole.
    """
    if not isinstance(prompt, str):  # None was "'NoneType' object is not iterable"
        raise ValueError(f"the prompt must be text (str), got {type(prompt).__name__}")
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    if beam is not None and (isinstance(beam, bool) or not isinstance(beam, int) or beam < 1):
        raise ValueError(f"beam width must be an integer >= 1, got {beam!r}")
    finite_float("length penalty", length_penalty)  # NaN would rank every beam alike
    if beam is not None and beam > 1:  # scores of every beam x every token, a few copies
        check_memory(f"beam search of width {beam} over {tokenizer.vocab_size} tokens",
                     16 * beam * tokenizer.vocab_size, next(model.parameters()).device)
    ids = encode_prompt(tokenizer, prompt)
    context = ids or start_ids(tokenizer)
    if not context:
        raise ValueError("the prompt is empty and the vocabulary has no newline to start from; "
                         "give a prompt")
    word = isinstance(tokenizer, WordTokenizer)
    eos = EOS_ID if word and stop_at_eos else None
    never = never_drawn(tokenizer)
    shown = _render(tokenizer, ids)
    # the prompt as typed: at word level its rendering shows unknown words as <unk> (the
    # pieces after it are the rendering's continuation, so they join either way)
    yield prompt.rstrip() if word and prompt.strip() else shown
    if beam is not None:
        new = beam_generate(model, context, length, beam_width=beam, eos_id=eos,
                            length_penalty=length_penalty, suppress_ids=never)
        full = _render(tokenizer, ids + new)
        yield full[len(shown):]
        return
    new: list[int] = []
    for token in stream(model, context, length, temperature=temperature, top_k=top_k,
                        top_p=top_p, repetition_penalty=repetition_penalty, eos_id=eos,
                        seed=seed, suppress_ids=never):
        if token == eos:
            break
        new.append(token)
        full = _render(tokenizer, ids + new)
        piece, shown = full[len(shown):], full
        if piece:
            yield piece


def _render(tokenizer, ids: list[int]) -> str:
    """Text of ids; word level shows <eos> as a line break (decode is prefix-stable)."""
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.decode(ids)
    lines, current = [], []
    for i in ids:
        if i == EOS_ID:
            lines.append(tokenizer.decode(current))
            current = []
        else:
            current.append(i)
    text = "\n".join(lines + [tokenizer.decode(current)])
    return text[1:] if ids and ids[0] == EOS_ID else text
