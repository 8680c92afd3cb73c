"""Translation end to end: train a ``Seq2Seq`` on parallel text, keep the best, load it back.

The plain functions under ``rnnkit translate train|predict|evaluate``:

- ``train_translation(train, val, checkpoint_dir, config)`` — word vocabularies from the
  training pairs (``WordTokenizer``, whitespace tokens, rarer than ``min_freq`` → ``<unk>``),
  length-bucketed batches, ``rnnkit.fit`` with teacher forcing and an lr that decays over the
  run (by time with a budget), and after each epoch the validation BLEU of greedy decoding:
  the epoch with the best one is selected, saved to ``checkpoint_dir`` (tokenizers and config
  in the extras) and left in the returned model.
- ``load_translation(checkpoint_dir)`` — ``(model, src_tokenizer, tgt_tokenizer, extras)``.

Text is expected tokenised (tokens separated by spaces, as Multi30k's ``*.tok`` files are);
translations come back in the same form. Everything is checked before anything is written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import checkpoint
from .config_dict import config_from_dict
from .data.parallel import (
    EMPTY_MODES,
    LONG_MODES,
    ParallelDataset,
    ParallelText,
    parallel_loader,
)
from .data.tokenizers import WordTokenizer, tokenizer_from_dict
from .decoding import bleu, join_tokens, translate_ids
from .models.seq2seq import ATTENTIONS, CELLS, Seq2Seq
from .runtime import resolve_device, seed_everything
from .textgen import LRByProgress
from .train import fit

__all__ = ["TranslationConfig", "train_translation", "load_translation", "build_tokenizers",
           "build_model"]


@dataclass
class TranslationConfig:
    """Everything that defines a translation run (stored in the checkpoint)."""

    cell: str = "gru"  # recurrent cell of encoder and decoder: gru | lstm
    attention: str = "general"  # bahdanau | dot | general (see rnnkit.models.seq2seq)
    input_feeding: bool = False  # feed h~_{t-1} to the decoder (Luong et al. 2015)
    hidden_size: int = 256  # H: decoder and memory size (each encoder direction H/2)
    embedding_dim: int = 256  # E of both embeddings
    num_layers: int = 1  # encoder and decoder layers
    dropout: float = 0.3  # embeddings, between layers, before the output layer
    teacher_forcing: float = 1.0  # chance of feeding the true previous token in training
    tie_embeddings: bool = False  # the output layer reuses the target embedding
    share_embeddings: bool = False  # one joint vocabulary and embedding for both sides
    min_freq: int = 2  # words seen fewer times in training become <unk>
    max_vocab: int | None = None  # most ids per vocabulary (specials included)
    max_len: int = 100  # most tokens per sentence (longer: see too_long)
    too_long: str = "truncate"  # sentences over max_len: truncate | error
    empty: str = "skip"  # pairs with an empty side: skip (counted) | error
    batch_size: int = 64  # sentence pairs per batch (length-bucketed)
    lr: float = 2e-3  # Adam's peak learning rate
    schedule: str = "cosine"  # lr over the run (by time with a budget): cosine|linear|constant
    final_lr_ratio: float = 0.02  # lr at the end of the run, as a share of lr
    warmup: float = 0.0  # share of the run with a linear lr warm-up
    clip_norm: float | None = 1.0  # global gradient-norm clipping (None: off)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        def positive_int(name, v, allow_none=False):
            if allow_none and v is None:
                return
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name.replace('_', '-')} must be a positive integer, got "
                                 f"{v!r}")

        for name, value, choices in (("cell", self.cell, CELLS),
                                     ("attention", self.attention, ATTENTIONS),
                                     ("too_long", self.too_long, LONG_MODES),
                                     ("empty", self.empty, EMPTY_MODES),
                                     ("schedule", self.schedule, ("cosine", "linear",
                                                                  "constant"))):
            if value not in choices:
                raise ValueError(f"{name.replace('_', '-')} must be one of "
                                 f"{', '.join(choices)}, got {value!r}")
        for name in ("hidden_size", "embedding_dim", "num_layers", "min_freq", "max_len",
                     "batch_size"):
            positive_int(name, getattr(self, name))
        positive_int("max_vocab", self.max_vocab, allow_none=True)
        if self.max_vocab is not None and self.max_vocab <= 4:
            raise ValueError(f"max-vocab must be above 4 (it counts <pad> <unk> <bos> <eos>), "
                             f"got {self.max_vocab}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher-forcing must lie in [0, 1], got {self.teacher_forcing!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip-norm must be > 0, got {self.clip_norm!r}")
        if not 0.0 <= self.warmup < 1.0 or not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ValueError("warmup must lie in [0, 1) and final-lr-ratio in [0, 1]")
        if self.hidden_size % 2:
            raise ValueError(f"hidden-size must be even (the encoder has H/2 units per "
                             f"direction), got {self.hidden_size}")

    @classmethod
    def from_dict(cls, d: dict) -> TranslationConfig:
        return config_from_dict(cls, d)


def build_tokenizers(train: ParallelText, config: TranslationConfig):
    """Source and target ``WordTokenizer``s (one joint one with ``share_embeddings``)."""
    def fitted(texts):
        return WordTokenizer(punctuation="keep", min_freq=config.min_freq,
                             max_size=config.max_vocab).fit(texts)

    try:
        if config.share_embeddings:
            joint = fitted(train.src + train.tgt)
            return joint, joint
        return fitted(train.src), fitted(train.tgt)
    except ValueError as e:
        raise ValueError(f"the training text has no usable vocabulary ({e})") from None


def build_model(config: TranslationConfig, src_vocab: int, tgt_vocab: int) -> Seq2Seq:
    return Seq2Seq(src_vocab, tgt_vocab, hidden_size=config.hidden_size,
                   embedding_dim=config.embedding_dim, num_layers=config.num_layers,
                   cell=config.cell, attention=config.attention,
                   input_feeding=config.input_feeding, dropout=config.dropout,
                   teacher_forcing_ratio=config.teacher_forcing,
                   tie_embeddings=config.tie_embeddings,
                   share_embeddings=config.share_embeddings, max_src_len=config.max_len)


def _check_checkpoint_dir(path) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} exists and is not a folder")
    return path


def train_translation(train: ParallelText, val: ParallelText, checkpoint_dir: str | Path | None,
                      config: TranslationConfig | None = None, *, epochs: int | None = None,
                      minutes: float | None = None, seed: int | None = 0,
                      device: str = "auto", quiet: bool = False,
                      log: Callable[[str], None] | None = None) -> dict:
    """Train a translator on ``train`` pairs, select the epoch by ``val`` BLEU; see module doc.

    Trains for ``epochs`` passes or ``minutes`` of wall-clock time (default 10 epochs; with
    both, whichever ends first). ``checkpoint_dir`` None keeps the model in memory only.

    Returns ``{"model", "src_tokenizer", "tgt_tokenizer", "val_bleu", "best_epoch",
    "epochs", "seconds", "history" (per-epoch rows), "fit_history", "data"}`` with the best
    epoch's weights in the model.
    """
    config = config or TranslationConfig()
    config.check()
    log = log or (lambda s: print(s, flush=True))
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 1):
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if minutes is not None and not minutes > 0:
        raise ValueError(f"minutes must be > 0, got {minutes!r}")
    if epochs is None and minutes is None:
        epochs = 10
    ckpt = _check_checkpoint_dir(checkpoint_dir) if checkpoint_dir is not None else None
    src_tok, tgt_tok = build_tokenizers(train, config)
    train_ds = ParallelDataset(train.src, train.tgt, src_tok, tgt_tok, config.max_len,
                               config.too_long, train.line_numbers)
    val_ds = ParallelDataset(val.src, val.tgt, src_tok, tgt_tok, config.max_len,
                             config.too_long, val.line_numbers)
    dev = resolve_device(device)

    seed_everything(seed)
    model = build_model(config, src_tok.vocab_size, tgt_tok.vocab_size).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    budget = None if minutes is None else minutes * 60.0
    n_epochs = epochs if epochs is not None else 10**9
    loader = parallel_loader(train_ds, config.batch_size, shuffle=True,
                             seed=0 if seed is None else seed)
    schedule = LRByProgress(opt, config, total_steps=None if budget else n_epochs * len(loader),
                            budget_s=budget)
    if not quiet:
        n_params = sum(p.numel() for p in model.parameters())
        log(f"translate: {len(train_ds)} training pairs (skipped {train.skipped_empty} with an "
            f"empty side, truncated {train_ds.truncated} to {config.max_len} tokens), "
            f"{len(val_ds)} validation pairs (skipped {val.skipped_empty}, truncated "
            f"{val_ds.truncated}); vocabulary source {src_tok.vocab_size}, target "
            f"{tgt_tok.vocab_size} (min frequency {config.min_freq}); {config.cell} "
            f"{config.num_layers}x{config.hidden_size}, {config.attention} attention, "
            f"{n_params:,} parameters; " + (f"{minutes:g} min" if budget and epochs is None
                                            else f"{n_epochs} epochs"
                                            + (f" or {minutes:g} min" if budget else ""))
            + f" on {dev.type}")
    val_sources = [s for s, _ in val_ds.pairs]
    best = {"bleu": -math.inf, "loss": math.inf, "epoch": None, "weights": None}
    rows: list[dict] = []
    start = time.perf_counter()
    extras_base = {"task": "translate", "src_tokenizer": src_tok.to_dict(),
                   "tgt_tokenizer": tgt_tok.to_dict(), "translation": asdict(config)}

    def on_epoch(event: str, info: dict):
        if event != "epoch_end":
            return None
        hyps = translate_ids(model, val_sources, beam_width=1)
        val_bleu = bleu([join_tokens(tgt_tok, h[0].tokens) for h in hyps], val.tgt)
        row = {"epoch": info["epoch"], "seconds": round(time.perf_counter() - start, 1),
               "train_loss": info["train_loss"], "val_loss": info["val_loss"],
               "val_bleu": round(val_bleu, 2), "lr": info["lr"]}
        rows.append(row)
        improved = val_bleu > best["bleu"] or (val_bleu == best["bleu"]
                                               and info["val_loss"] < best["loss"])
        if improved:  # ties (early epochs of a small task: BLEU 0) go to the lower val loss
            best.update(bleu=val_bleu, loss=info["val_loss"], epoch=info["epoch"],
                        weights={k: v.detach().clone() for k, v in model.state_dict().items()})
            if ckpt is not None:
                checkpoint.save(model, ckpt, extras={
                    **extras_base, "val_bleu": round(val_bleu, 2), "epoch": info["epoch"],
                    "history": rows})
        if not quiet:
            log(f"epoch {row['epoch']:3d}  {row['seconds']:7.1f} s  train loss "
                f"{row['train_loss']:.3f}  val loss {row['val_loss']:.3f}  val BLEU "
                f"{val_bleu:5.2f} (greedy)" + ("  (best" + (", saved)" if ckpt else ")")
                                               if improved else ""))
        return None

    history = fit(model, loader, val_data=parallel_loader(val_ds, 128, shuffle=False),
                  epochs=n_epochs, loss="cross_entropy", optimizer=opt,
                  clip_norm=config.clip_norm, callbacks=(schedule, on_epoch), seed=seed,
                  device=dev, progress=False, time_budget=budget)
    if best["weights"] is not None:
        model.load_state_dict(best["weights"])
    model.eval()
    return {"model": model, "src_tokenizer": src_tok, "tgt_tokenizer": tgt_tok,
            "val_bleu": best["bleu"], "best_epoch": best["epoch"], "epochs": len(rows),
            "seconds": time.perf_counter() - start, "history": rows, "fit_history": history,
            "data": (train_ds, val_ds)}


def load_translation(checkpoint_dir: str | Path, device: str = "auto"):
    """``(model, src_tokenizer, tgt_tokenizer, extras)`` from a ``train_translation`` run."""
    path = Path(checkpoint_dir)
    if not path.exists():
        raise ValueError(f"no checkpoint at {str(path)!r} (train one with rnnkit translate "
                         "train)")
    extras = checkpoint.load_extras(path)
    if extras.get("task") != "translate" or "src_tokenizer" not in extras:
        raise ValueError(f"checkpoint {str(path)!r} is not a translation model (written by "
                         "rnnkit translate train)")
    model = checkpoint.load(path, device=str(resolve_device(device)))
    if not isinstance(model, Seq2Seq):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(model).__name__}, not a "
                         "Seq2Seq")
    return (model, tokenizer_from_dict(extras["src_tokenizer"]),
            tokenizer_from_dict(extras["tgt_tokenizer"]), extras)
