"""Text generation end to end: train a char- or word-level language model, then sample.

The plain functions under ``rnnkit textgen train|sample`` (char-rnn in PyTorch):

- ``train_text(text, checkpoint_dir, config)`` — tokenize, split (first 90 % train, last 10 %
  validation), train a ``LanguageModel`` with ``rnnkit.fit`` by truncated BPTT over
  ``StreamBatches``, measure the validation loss exactly (``stream_loss``) after each epoch,
  print a short sample, and keep the best model in ``checkpoint_dir`` (the tokenizer and the
  config travel in the checkpoint's extras).
- ``load_text_model(checkpoint_dir)`` and ``sample_text(model, tokenizer, prompt, ...)`` —
  a streaming iterator of text pieces (``rnnkit.generate``), or beam search.

Validation losses are in nats per token (per character at char level). ``stream_loss`` is
the recurrent model's figure: the whole split, read in a few parallel streams with the state
carried. ``block_loss`` is the transformer-style figure: random fixed-length blocks, each read
from a zero state, every position scored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import checkpoint
from .config_dict import config_from_dict
from .data.text import StreamBatches, split_text
from .data.tokenizers import EOS_ID, CharTokenizer, WordTokenizer, tokenizer_from_dict
from .generate import beam_generate, check_sampling, stream
from .models.language_model import LanguageModel
from .runtime import resolve_device, seed_everything
from .train import fit
from .training.options import make_optimizer as build_optimizer

__all__ = ["TextGenConfig", "train_text", "load_text_model", "sample_text", "stream_loss",
           "block_loss", "lr_factor", "LRByProgress", "Clock", "LEVELS", "SCHEDULES"]

LEVELS = ("char", "word")
SCHEDULES = ("cosine", "linear", "constant")
PRECISIONS = ("fp32", "bf16")


@dataclass
class TextGenConfig:
    """Everything that defines a text-generation run (stored in the checkpoint).

    The defaults are the best of a short sweep on Tiny Shakespeare for a 95-second budget on
    2 CPU threads (1x512 LSTM, 64 streams of 64 steps, Adam 5e-3 with cosine decay over the
    run): see BENCHMARKS.md, "Tiny Shakespeare".
    """

    level: str = "char"  # "char" or "word" tokens
    cell: str = "lstm"  # recurrent cell: lstm | gru | rnn
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

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        def positive_int(name, v, allow_none=False):
            if allow_none and v is None:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")

        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")
        if self.cell not in ("lstm", "gru", "rnn"):
            raise ValueError(f"cell must be one of lstm, gru, rnn, got {self.cell!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{self.precision!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got "
                             f"{self.schedule!r}")
        for name in ("num_layers", "hidden_size", "seq_len", "batch_size", "min_freq"):
            positive_int(name, getattr(self, name))
        positive_int("embedding_dim", self.embedding_dim, allow_none=True)
        positive_int("max_vocab", self.max_vocab, allow_none=True)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight-decay must be >= 0, got {self.weight_decay!r}")
        if self.embedding_dropout is not None and not 0.0 <= self.embedding_dropout < 1.0:
            raise ValueError(f"embedding-dropout must lie in [0, 1), got "
                             f"{self.embedding_dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip-norm must be > 0, got {self.clip_norm!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val-fraction must lie in (0, 1), got {self.val_fraction!r}")
        if not 0.0 <= self.warmup < 1.0 or not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ValueError("warmup must lie in [0, 1) and final_lr_ratio in [0, 1]")
        if self.max_vocab is not None and self.max_vocab <= 4:
            raise ValueError(f"max-vocab must be above 4 (it counts <pad> <unk> <bos> <eos>), "
                             f"got {self.max_vocab}")
        if self.tie_weights and self.embedding_size() != self.hidden_size:
            raise ValueError(f"tie-weights needs the embedding size ({self.embedding_size()}) "
                             f"to equal hidden size ({self.hidden_size})")

    def embedding_size(self) -> int:
        if self.embedding_dim is not None:
            return self.embedding_dim
        return 64 if self.level == "char" else self.hidden_size

    @classmethod
    def from_dict(cls, d: dict) -> TextGenConfig:
        return config_from_dict(cls, d)


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
    was_training = model.training
    model.eval()
    num_streams = max(1, min(num_streams, (len(ids) - 1)))
    batches = StreamBatches(ids, num_streams, seq_len)
    total, state = 0.0, None
    for x, y in batches:
        logits, state = model(x.to(device), state)
        total += float(F.cross_entropy(_wide(logits.flatten(0, 1)), y.to(device).flatten(),
                                       reduction="sum"))
    n = batches.num_tokens  # targets ids[1 .. n] are scored; the last stream ends at ids[n - 1]
    if len(ids) - 1 > n:  # the few targets past the equal streams continue the last stream
        last_state = _select_stream(state, num_streams - 1)
        x, y = ids[n:-1].view(1, -1), ids[n + 1:].view(1, -1)
        logits, _ = model(x.to(device), last_state)
        total += float(F.cross_entropy(_wide(logits.flatten(0, 1)), y.to(device).flatten(),
                                       reduction="sum"))
    model.train(was_training)
    return total / (len(ids) - 1)


def _wide(x: Tensor) -> Tensor:
    """At least float32 (bf16/fp16 logits are summed in float32; float64 stays)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _select_stream(state, b: int):
    if isinstance(state, (tuple, list)):
        return type(state)(_select_stream(s, b) for s in state)
    return state[:, b:b + 1].contiguous()


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
    was_training = model.training
    model.eval()
    total = 0.0
    for part in starts.split(batch_size):
        x = torch.stack([ids[i:i + block_size] for i in part.tolist()])
        y = torch.stack([ids[i + 1:i + 1 + block_size] for i in part.tolist()])
        logits, _ = model(x.to(device))
        total += float(F.cross_entropy(_wide(logits.flatten(0, 1)), y.to(device).flatten(),
                                       reduction="sum"))
    model.train(was_training)
    return total / (num_blocks * block_size)


# ------------------------------------------------------------------------------ lr schedule
def lr_factor(progress: float, schedule: str = "cosine", warmup: float = 0.0,
              final_ratio: float = 0.0) -> float:
    """The lr multiplier at ``progress`` in [0, 1] of a run: warm-up, then decay to the end."""
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return (progress + 1e-3) / (warmup + 1e-3)
    if schedule == "constant":
        return 1.0
    p = (progress - warmup) / (1.0 - warmup) if warmup < 1 else 1.0
    decay = 0.5 * (1.0 + math.cos(math.pi * p)) if schedule == "cosine" else 1.0 - p
    return final_ratio + (1.0 - final_ratio) * decay


class LRByProgress:
    """A ``fit`` callback that sets the lr after every step from the run's progress.

    Progress is ``step / total_steps``, or — with a time budget — elapsed seconds (by
    ``clock``, which may leave out evaluation time) over the budget.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TextGenConfig, *,
                 total_steps: int | None = None, budget_s: float | None = None,
                 clock: Callable[[], float] | None = None):
        self.opt, self.config = optimizer, config
        self.total_steps, self.budget_s = total_steps, budget_s
        self.clock = clock or Clock()
        self.steps = 0
        self.set(0.0)

    def progress(self) -> float:
        if self.budget_s:
            return self.clock() / self.budget_s
        return self.steps / max(1, self.total_steps or 1)

    def set(self, progress: float) -> None:
        c = self.config
        lr = c.lr * lr_factor(progress, c.schedule, c.warmup, c.final_lr_ratio)
        for group in self.opt.param_groups:
            group["lr"] = lr

    def __call__(self, event: str, info: dict):
        if event == "batch_end":
            self.steps += 1
            self.set(self.progress())


class Clock:
    """Seconds since creation; ``pause()``/``resume()`` leave spans out (e.g. evaluation)."""

    def __init__(self):
        self.start, self.paused_at, self.left_out = time.perf_counter(), None, 0.0

    def __call__(self) -> float:
        now = self.paused_at if self.paused_at is not None else time.perf_counter()
        return now - self.start - self.left_out

    def pause(self) -> None:
        self.paused_at = time.perf_counter()

    def resume(self) -> None:
        if self.paused_at is not None:
            self.left_out += time.perf_counter() - self.paused_at
            self.paused_at = None


# --------------------------------------------------------------------------------- training
def make_tokenizer(config: TextGenConfig):
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


def prepare(text: str, config: TextGenConfig):
    """Check the config and the text and tokenize it: ``(tokenizer, train_ids, val_ids)``.

    Raises ``ValueError`` when the text is too short for the split and the batch shape.
    """
    config.check()
    train_text_, val_text = split_text(text, config.val_fraction)
    tok = make_tokenizer(config)
    try:
        tok.fit(train_text_)
    except ValueError as e:
        raise ValueError(f"the training part of the text has no usable tokens ({e})") from None
    train_ids, val_ids = encode_text(tok, train_text_), encode_text(tok, val_text)
    unit = "characters" if config.level == "char" else "words"
    if len(train_ids) < config.batch_size + 1:
        raise ValueError(f"the text is too short: {len(train_ids)} training {unit} for "
                         f"--batch-size {config.batch_size}; use a longer text or a smaller "
                         "--batch-size")
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
        self.model, self.dtype = model, dtype

    def forward(self, tokens: Tensor, state=None):
        device = tokens.device.type
        with torch.autocast(device, dtype=self.dtype):
            logits, state = self.model(tokens, state)
        return logits.float(), state


def make_optimizer(model: nn.Module, config: TextGenConfig) -> torch.optim.Optimizer:
    """Adam at ``config.lr``, or AdamW when ``config.weight_decay`` > 0 (``fit``'s factory)."""
    name = "adamw" if config.weight_decay > 0 else "adam"
    return build_optimizer(name, model, config.lr, config.weight_decay)


def trainable(model: nn.Module, config: TextGenConfig) -> nn.Module:
    """The module ``fit`` trains: the model itself, or its ``Autocast`` wrapper for bf16."""
    return Autocast(model) if config.precision == "bf16" else model


def build_model(config: TextGenConfig, vocab_size: int) -> LanguageModel:
    return LanguageModel(vocab_size, config.hidden_size, config.num_layers, cell=config.cell,
                         embedding_dim=config.embedding_size(), dropout=config.dropout,
                         embedding_dropout=config.embedding_dropout,
                         tie_weights=config.tie_weights)


def check_checkpoint_dir(path: str | Path) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} exists and is not a folder")
    return path


def train_text(text: str, checkpoint_dir: str | Path, config: TextGenConfig | None = None, *,
               epochs: int | None = None, minutes: float | None = None, seed: int | None = 0,
               device: str = "auto", quiet: bool = False, sample_length: int = 200,
               log: Callable[[str], None] | None = None) -> dict:
    """Train a language model on ``text`` and keep the best one in ``checkpoint_dir``.

    Trains for ``epochs`` passes over the training part, or for ``minutes`` of wall-clock
    time (default: 10 epochs). After each epoch: the exact validation loss (``stream_loss``),
    and — unless ``quiet`` — a short greedy-ish sample; the model is saved whenever the
    validation loss improves. Everything is checked before anything is written.

    Returns ``{"best_val_loss", "best_epoch", "epochs", "history", "tokenizer", "model"}``.
    """
    config = config or TextGenConfig()
    log = log or (lambda s: print(s, flush=True))
    if epochs is not None and minutes is not None:
        raise ValueError("pass --epochs or --minutes, not both")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if minutes is not None and not minutes > 0:
        raise ValueError(f"minutes must be > 0, got {minutes!r}")
    if epochs is None and minutes is None:
        epochs = 10
    tok, train_ids, val_ids = prepare(text, config)
    ckpt = check_checkpoint_dir(checkpoint_dir)
    dev = resolve_device(device)

    seed_everything(seed)
    model = build_model(config, tok.vocab_size).to(dev)
    batches = StreamBatches(train_ids, config.batch_size, config.seq_len)
    opt = make_optimizer(model, config)
    budget = None if minutes is None else minutes * 60.0
    schedule = LRByProgress(opt, config, total_steps=None if budget else epochs * len(batches),
                            budget_s=budget)
    n_params = sum(p.numel() for p in model.parameters())
    if not quiet:
        log(f"textgen: {config.level} level, vocabulary {tok.vocab_size}, "
            f"{len(train_ids):,} training / {len(val_ids):,} validation tokens; "
            f"{config.num_layers}x{config.hidden_size} {config.cell}, {n_params:,} parameters, "
            f"batches of {config.batch_size}x{config.seq_len}, "
            + (f"{minutes:g} min" if budget else f"{epochs} epochs") + f" on {dev.type}")
    best = {"val_loss": math.inf, "epoch": None}
    rows: list[dict] = []
    extras_base = {"tokenizer": tok.to_dict(), "textgen": asdict(config)}
    prompt = start_ids(tok) or [int(train_ids[0])]

    def on_epoch(event: str, info: dict):
        if event != "epoch_end":
            return None
        val = stream_loss(model, val_ids)
        row = {"epoch": info["epoch"], "train_loss": info["train_loss"], "val_loss": val,
               "seconds": round(schedule.clock(), 1), "lr": info["lr"]}
        rows.append(row)
        improved = val < best["val_loss"]
        if improved:
            best.update(val_loss=val, epoch=info["epoch"])
            checkpoint.save(model, ckpt, extras={**extras_base, "val_loss": val,
                                                 "epoch": info["epoch"], "history": rows})
        if not quiet:
            log(f"epoch {info['epoch']:3d}  train {info['train_loss']:.4f}  val {val:.4f} "
                f"nats/{'char' if config.level == 'char' else 'word'}  "
                f"{row['seconds']:7.1f} s" + ("  (best, saved)" if improved else ""))
            new = list(stream(model, prompt, sample_length, temperature=0.8, top_k=40,
                              seed=info["epoch"]))
            sample = tok.decode(prompt + new).strip("\n")
            log("  sample: " + sample.replace("\n", "\n          "))
        return None

    history = fit(trainable(model, config), batches, epochs=epochs if epochs is not None else 10**9,
                  loss="cross_entropy", optimizer=opt, clip_norm=config.clip_norm, tbptt=
                  config.seq_len, callbacks=(schedule, on_epoch), seed=seed, device=dev,
                  progress=False, time_budget=budget)
    return {"best_val_loss": best["val_loss"], "best_epoch": best["epoch"], "epochs": len(rows),
            "history": rows, "tokenizer": tok, "model": model, "fit_history": history}


# --------------------------------------------------------------------------------- sampling
def load_text_model(checkpoint_dir: str | Path, device: str = "auto"):
    """``(model, tokenizer, extras)`` from a ``train_text`` checkpoint."""
    path = Path(checkpoint_dir)
    if not path.exists():
        raise ValueError(f"no checkpoint at {str(path)!r} (train one with rnnkit textgen train)")
    extras = checkpoint.load_extras(path)
    if "tokenizer" not in extras:
        raise ValueError(f"checkpoint {str(path)!r} holds no tokenizer; is it a textgen "
                         "checkpoint?")
    dev = resolve_device(device)
    model = checkpoint.load(path, device=str(dev))
    if not isinstance(model, LanguageModel):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(model).__name__}, not a "
                         "LanguageModel")
    return model, tokenizer_from_dict(extras["tokenizer"]), extras


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


def sample_text(model: nn.Module, tokenizer, prompt: str = "", length: int = 500, *,
                temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                repetition_penalty: float = 1.0, beam: int | None = None,
                length_penalty: float = 1.0, stop_at_eos: bool = True,
                seed: int | None = None) -> Iterator[str]:
    """Continue ``prompt`` by up to ``length`` tokens; yields text pieces as they come.

    The first piece is the prompt itself. Word-level models stop at ``<eos>`` (the end of a
    line) when ``stop_at_eos``; otherwise ``<eos>`` is shown as a line break. With ``beam``
    the best beam-search continuation is yielded whole.
    """
    check_sampling(temperature, top_k, top_p, repetition_penalty)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    if beam is not None and (isinstance(beam, bool) or not isinstance(beam, int) or beam < 1):
        raise ValueError(f"beam width must be an integer >= 1, got {beam!r}")
    ids = encode_prompt(tokenizer, prompt)
    context = ids or start_ids(tokenizer)
    if not context:
        raise ValueError("the prompt is empty and the vocabulary has no newline to start from; "
                         "pass --prompt")
    word = isinstance(tokenizer, WordTokenizer)
    eos = EOS_ID if word and stop_at_eos else None
    shown = _render(tokenizer, ids)
    yield shown
    if beam is not None:
        new = beam_generate(model, context, length, beam_width=beam, eos_id=eos,
                            length_penalty=length_penalty)
        full = _render(tokenizer, ids + new)
        yield full[len(shown):]
        return
    new: list[int] = []
    for token in stream(model, context, length, temperature=temperature, top_k=top_k,
                        top_p=top_p, repetition_penalty=repetition_penalty, eos_id=eos,
                        seed=seed):
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
