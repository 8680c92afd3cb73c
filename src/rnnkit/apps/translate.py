"""Translation: train a ``Seq2Seq`` on parallel text, keep the best epoch, translate with it.

The application of ``rnnkit translate train|predict|evaluate``, in the ``rnnkit.apps`` shape:

- ``Config``: the run's settings (stored in the checkpoint);
- ``train(config, train, val, checkpoint)``: word vocabularies from the training pairs
  (``WordTokenizer``, whitespace tokens, rarer than ``min_freq`` -> ``<unk>``),
  length-bucketed batches, ``rnnkit.fit`` with teacher forcing and an lr that decays over
  the run (by time with a budget); ``fit`` monitors the validation BLEU of greedy decoding
  after each epoch and keeps the best epoch (in the model and in ``checkpoint``); with
  ``patience``, training stops after that many epochs without a higher validation BLEU;
- ``load(checkpoint)`` -> ``TranslatePredictor`` (``predict``, ``attention``, ``evaluate``).

Text is expected tokenised (tokens separated by spaces, as Multi30k's ``*.tok`` files are);
translations come back in the same form. Everything is checked before anything is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import checkpoint
from ..config_dict import config_from_dict
from ..data.parallel import (
    EMPTY_MODES,
    LONG_MODES,
    ParallelDataset,
    ParallelText,
    encode_sources,
    parallel_loader,
    read_parallel,
)
from ..data.tokenizers import WordTokenizer, tokenizer_from_dict
from ..decoding import attention_for, join_tokens, translate_ids
from ..metrics import bleu, exact_match
from ..models.seq2seq import ATTENTIONS, CELLS, Seq2Seq
from ..runtime import check_memory, resolve_device, seed_everything
from ..train import History, fit
from ..training.lr_progress import SCHEDULES, LRByProgress, done_so_far
from ..validate import finite_float, non_negative_int, positive_float, positive_int
from .base import Predictor, check_task_folder, load_checkpoint, register_app
from .extras_check import check_size, reading_extras
from .fingerprint import fingerprint
from .finished import say_finished, spent_epochs

__all__ = ["TASK", "Config", "Config", "train", "load", "TranslatePredictor",
           "build_tokenizers", "build_model"]

TASK = "translate"
MAX_NEW_TOKENS = 10_000  # the most words one translation may run to (max_len)


@dataclass
class Config:
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
    epochs: int | None = None  # passes over the pairs (None: 10, or the minutes)
    minutes: float | None = None  # training time budget (with epochs: whichever ends first;
    # the last epoch's validation and save come after it)
    patience: int | None = None  # stop after this many epochs without a higher val BLEU (a
    # tie is no improvement); 0 or none: off (default: off, so a run lasts its epochs or
    # minutes unless asked)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        for name, value, choices in (("cell", self.cell, CELLS),
                                     ("attention", self.attention, ATTENTIONS),
                                     ("too_long", self.too_long, LONG_MODES),
                                     ("empty", self.empty, EMPTY_MODES),
                                     ("schedule", self.schedule, SCHEDULES)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        for name in ("hidden_size", "embedding_dim", "num_layers", "min_freq", "max_len",
                     "batch_size"):
            positive_int(name, getattr(self, name))
        for name in ("max_vocab", "epochs"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.minutes is not None:
            positive_float("minutes", self.minutes)
        if self.patience is not None:
            non_negative_int("patience", self.patience)  # 0: off, as classify and forecast
        if self.max_vocab is not None and self.max_vocab <= 4:
            raise ValueError(f"max_vocab must be above 4 (it counts <pad> <unk> <bos> <eos>), "
                             f"got {self.max_vocab}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must lie in [0, 1], got {self.teacher_forcing!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {self.clip_norm!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must lie in [0, 1), got {self.warmup!r}")
        if not 0.0 <= self.final_lr_ratio <= 1.0:
            raise ValueError(f"final_lr_ratio must lie in [0, 1], got {self.final_lr_ratio!r}")
        if self.hidden_size % 2:
            raise ValueError(f"hidden_size must be even (the encoder has H/2 units per "
                             f"direction), got {self.hidden_size}")

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        return config_from_dict(cls, d)


TranslationConfig = Config  # the 0.1.0 name


def build_tokenizers(train: ParallelText, config: Config):
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


def build_model(config: Config, src_vocab: int, tgt_vocab: int) -> Seq2Seq:
    return Seq2Seq(src_vocab, tgt_vocab, hidden_size=config.hidden_size,
                   embedding_dim=config.embedding_dim, num_layers=config.num_layers,
                   cell=config.cell, attention=config.attention,
                   input_feeding=config.input_feeding, dropout=config.dropout,
                   teacher_forcing_ratio=config.teacher_forcing,
                   tie_embeddings=config.tie_embeddings,
                   share_embeddings=config.share_embeddings, max_src_len=config.max_len)


def train(config: Config, train_pairs: ParallelText, val_pairs: ParallelText,
          checkpoint_dir: str | Path | None = None, *, seed: int | None = 0,
          device: str = "auto", quiet: bool = False, resume: bool = False,
          log: Callable[[str], None] | None = None) -> History:
    """Train a translator on ``train_pairs``, keep the epoch with the best ``val_pairs`` BLEU.

    Trains for ``config.epochs`` passes or ``config.minutes`` of wall-clock time (default 10
    epochs; with both, whichever ends first), or until ``config.patience`` epochs in a row
    bring no higher validation BLEU (then ``history.stop_reason`` is "early_stopping" and a
    resume trains nothing). ``checkpoint_dir`` None keeps the model in memory only;
    ``resume`` continues the run stored there.

    Returns ``fit``'s ``History`` (rows with ``val_loss`` and ``val_bleu``, greedy; its
    ``best_epoch``), with ``model`` (the best epoch's weights), ``src_tokenizer``,
    ``tgt_tokenizer``, ``data`` (the two ``ParallelDataset``s) and ``seconds`` attached.
    """
    config.check()
    log = log or (lambda s: print(s, flush=True))
    epochs = config.epochs if config.epochs is not None else None if config.minutes else 10
    ckpt = None if checkpoint_dir is None else checkpoint.check_folder(checkpoint_dir)
    if ckpt is not None:
        check_task_folder(ckpt, TASK)
    src_tok, tgt_tok = build_tokenizers(train_pairs, config)
    train_ds, val_ds = (ParallelDataset(p.src, p.tgt, src_tok, tgt_tok, config.max_len,
                                        config.too_long, p.line_numbers)
                        for p in (train_pairs, val_pairs))
    dev = resolve_device(device)
    done_steps, done_s = done_so_far(ckpt) if resume else (0, 0.0)
    # a run that ended on its budget, given no more time: resuming it trains nothing
    epochs = (spent_epochs(ckpt, config.minutes, "translation", "minutes") if resume
              else None) or epochs

    seed_everything(seed)
    model = build_model(config, src_tok.vocab_size, tgt_tok.vocab_size).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    budget = None if config.minutes is None else config.minutes * 60.0
    loader = parallel_loader(train_ds, config.batch_size, shuffle=True,
                             seed=0 if seed is None else seed)
    start = time.perf_counter()
    schedule = LRByProgress(opt, config, total_steps=(epochs or 10**9) * len(loader)
                            if not budget else None, budget_s=budget, steps=done_steps,
                            clock=lambda: time.perf_counter() - start + done_s)
    if not quiet:
        log(_describe(config, train_pairs, val_pairs, train_ds, val_ds, src_tok, tgt_tok, model,
                      epochs, dev))
    val_sources = [s for s, _ in val_ds.pairs]

    def val_bleu(_model) -> float:
        hyps = translate_ids(model, val_sources, beam_width=1)
        return round(bleu([join_tokens(tgt_tok, h[0].tokens) for h in hyps], val_pairs.tgt), 2)

    def report(event: str, info: dict):
        if event != "epoch_end":
            return None
        history = info["history"]
        if not quiet:
            best = history.best_epoch == info["epoch"]
            log(f"epoch {info['epoch']:3d}  {time.perf_counter() - start:7.1f} s  train loss "
                f"{info['train_loss']:.3f}  val loss {info['val_loss']:.3f}  val BLEU "
                f"{info['val_bleu']:5.2f} (greedy)"
                + (("  (best, saved)" if ckpt else "  (best)") if best else ""))
        stale, since = _epochs_without_gain(history["val_bleu"])
        if not config.patience or stale < config.patience:
            return None
        if not quiet:
            log(f"stopped: val BLEU did not improve for {stale} epoch{'s' * (stale != 1)} "
                f"(best {history['val_bleu'][since - 1]:.2f} since epoch {since}); kept epoch "
                f"{history.best_epoch}")
        return True  # fit stops after this epoch, restoring the kept one

    history = fit(model, loader, val_data=parallel_loader(val_ds, 128, shuffle=False),
                  epochs=epochs or 10**9, loss="cross_entropy", optimizer=opt,
                  clip_norm=config.clip_norm, callbacks=(schedule, report), seed=seed,
                  device=dev, progress=False,
                  time_budget=None if budget is None else max(1.0, budget - done_s),
                  monitor=val_bleu, mode="max", save_best=ckpt, checkpoint_dir=ckpt,
                  resume=resume, extras={"task": TASK, "src_tokenizer": src_tok.to_dict(),
                                         "tgt_tokenizer": tgt_tok.to_dict(),
                                         "translation": asdict(config),
                                         "data": fingerprint((i for pair in train_ds.pairs
                                                              for i in pair), len(train_ds))})
    _name_the_stop(history, ckpt)
    model.eval()
    history.model, history.src_tokenizer, history.tgt_tokenizer = model, src_tok, tgt_tok
    history.data, history.seconds = (train_ds, val_ds), time.perf_counter() - start
    if history.already_finished:  # the stored run was complete
        say_finished(TASK, ckpt, len(history))
    elif ckpt is not None:
        history.plot(ckpt / "history.png")
    return history


def _epochs_without_gain(bleus: Sequence[float]) -> tuple[int, int]:
    """(epochs since the val BLEU last rose, the epoch it reached its best), from the rows.

    Only a higher BLEU counts, as in Keras' and Lightning's EarlyStopping: ``fit``'s tie rule
    (equal BLEU with a lower val loss is better) picks which epoch to keep, but as patience it
    never stopped a run whose BLEU sat at 100 while its loss crept down. Counted from the
    history, so a resumed run counts the epochs before the interruption too."""
    since = bleus.index(max(bleus)) + 1
    return len(bleus) - since, since


def _name_the_stop(history: History, ckpt: Path | None) -> None:
    """``fit`` records the patience stop as "callback" (``report`` returned True; it keeps the
    run stopped on resume); the History and ``history.json`` call it "early_stopping", as
    ``fit``'s own patience does."""
    if history.stop_reason != "callback":
        return
    history.stop_reason = "early_stopping"
    if ckpt is not None and not history.already_finished:  # a resume's was written before
        history.write(ckpt)


def _describe(config, train_pairs, val_pairs, train_ds, val_ds, src_tok, tgt_tok, model,
              epochs, dev) -> str:
    n_params = sum(p.numel() for p in model.parameters())
    length = (f"{config.minutes:g} min" if config.minutes and epochs is None
              else f"{epochs} epoch{'' if epochs == 1 else 's'}"
              + (f" or {config.minutes:g} min" if config.minutes else ""))
    n_train, n_val = len(train_ds), len(val_ds)
    return (f"translate: {n_train} training pair{'' if n_train == 1 else 's'} (skipped "
            f"{train_pairs.skipped_empty} with an empty side, truncated {train_ds.truncated} to "
            f"{config.max_len} tokens), {n_val} validation pair{'' if n_val == 1 else 's'} "
            f"(skipped {val_pairs.skipped_empty}, truncated {val_ds.truncated}); vocabulary "
            f"source {src_tok.vocab_size}, target {tgt_tok.vocab_size} (min frequency "
            f"{config.min_freq}); {config.cell} {config.num_layers}x{config.hidden_size}, "
            f"{config.attention} attention, {n_params:,} parameters; {length} on {dev.type}")


class TranslatePredictor(Predictor):
    """A trained ``Seq2Seq`` with its two tokenizers.

    ``predict(sentences, beam=5, length_penalty=1.0, max_len=None, n_best=1,
    too_long="truncate", batch_size=64) -> list[str]`` (``n_best`` > 1: a list of
    ``(score, text)`` lists); ``attention(sentence, beam=5) -> (text, tokens_in, tokens_out,
    matrix (len(tokens_out), len(tokens_in)))`` (``tokens_out`` ends with ``<eos>``);
    ``evaluate(sources, references, beam=5, tokenize="none") -> {"bleu", "exact_match", "n"}``.
    Sentences are tokenised text (tokens separated by spaces). Bidirectional encoder: no
    ``stream``.
    """

    task = TASK

    def __init__(self, model, config, src_tokenizer, tgt_tokenizer, path=None):
        super().__init__(model, config, path)
        self.src_tokenizer, self.tgt_tokenizer = src_tokenizer, tgt_tokenizer

    def encode(self, sentences: Sequence[str], too_long: str = "truncate",
               line_numbers=None) -> tuple[list[list[int]], int, list[str]]:
        """Source ids, how many were cut, and the unknown words (mapped to ``<unk>``)."""
        ids, cut = encode_sources(sentences, self.src_tokenizer, self.model.max_src_len,
                                  too_long, line_numbers)
        unknown = list(dict.fromkeys(w for s in sentences for w in
                                     self.src_tokenizer.unknown(s)))
        return ids, cut, unknown

    def search(self, ids, beam: int = 5, length_penalty: float = 1.0,
               max_len: int | None = None, n_best: int = 1, batch_size: int = 64):
        """Hypotheses (``rnnkit.generate.Hypothesis``) per encoded source, best first."""
        self.check_search(length_penalty, max_len, batch_size)
        if isinstance(beam, int) and not isinstance(beam, bool) and beam > 1 and ids:
            # scores of every hypothesis x every target word, a few copies, per step
            rows = beam * min(batch_size, len(ids))
            V = self.tgt_tokenizer.vocab_size
            check_memory(f"beam search of width {beam} over {V} target words",
                         16 * rows * V, next(self.model.parameters()).device)
        return translate_ids(self.model, ids, beam_width=beam, length_penalty=length_penalty,
                             max_len=max_len, n_best=n_best, batch_size=batch_size)

    @staticmethod
    def check_search(length_penalty: float = 1.0, max_len: int | None = None,
                     batch_size: int = 64) -> None:
        """One ValueError for a search setting out of range, before any sentence is read."""
        finite_float("length penalty", length_penalty)  # NaN would rank every beam alike
        positive_int("batch size", batch_size)
        if isinstance(max_len, int) and max_len > MAX_NEW_TOKENS:  # ran for minutes, silent
            raise ValueError(f"max length {max_len:,} is past {MAX_NEW_TOKENS:,} words; a "
                             "sentence's translation needs far fewer (default: twice the "
                             "source's length plus 10)")

    def text(self, ids: Sequence[int]) -> str:
        return join_tokens(self.tgt_tokenizer, ids)

    def predict(self, sentences: Sequence[str] | str, beam: int = 5, *,
                length_penalty: float = 1.0, max_len: int | None = None, n_best: int = 1,
                too_long: str = "truncate", batch_size: int = 64):
        if isinstance(sentences, str):
            sentences = [sentences]
        _sentences(sentences, "predict")
        ids, _, _ = self.encode(sentences, too_long)
        found = self.search(ids, beam, length_penalty, max_len, n_best, batch_size)
        if n_best == 1:
            return [self.text(h[0].tokens) for h in found]
        return [[(h.score, self.text(h.tokens)) for h in hyps] for hyps in found]

    def attention(self, sentence: str, beam: int = 5, **options):
        ids, _, _ = self.encode([sentence], options.pop("too_long", "truncate"))
        best = self.search(ids, beam, **options)[0][0].tokens
        matrix = attention_for(self.model, ids[0], best)
        itos_in, itos_out = self.src_tokenizer.itos, self.tgt_tokenizer.itos
        return (self.text(best), [itos_in[i] for i in ids[0]],
                [itos_out[i] for i in best] + ["<eos>"], matrix.numpy())

    def evaluate(self, sources: Sequence[str], references: Sequence[str], beam: int = 5, *,
                 tokenize: str = "none", **options) -> dict[str, float]:
        _sentences(sources, "evaluate: sources")
        _sentences(references, "evaluate: references")
        if isinstance(sources, str) or isinstance(references, str) or \
                len(sources) != len(references):
            raise ValueError("evaluate: give lists of sources and references of the same "
                             "length (one reference per source)")
        if not sources:
            raise ValueError("evaluate: no sentences to score")
        hyps = self.predict(sources, beam, **options)
        return {"bleu": bleu(hyps, references, tokenize=tokenize),
                "exact_match": exact_match(hyps, references), "n": len(hyps)}


def _sentences(value, what: str) -> None:
    """A string or a list of strings, else one ValueError (None was "not iterable")."""
    if isinstance(value, str):
        return
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what}: expected a sentence or a list of sentences (str), got "
                         f"{type(value).__name__}")


def load(path: str | Path, device: str = "cpu") -> TranslatePredictor:
    """The ``TranslatePredictor`` of a translation checkpoint (0.1.0 ones included)."""
    model, extras = load_checkpoint(
        path, Seq2Seq, device, app="translate",
        accepts=lambda e: e.get("task") == TASK and "src_tokenizer" in e,
        refused="is not a translation model (written by rnnkit translate train)")
    with reading_extras(path, "translation config"):
        config = Config.from_dict(extras.get("translation", {}))
    toks = []
    for side in ("src", "tgt"):
        with reading_extras(path, f"{side}_tokenizer"):
            toks.append(tokenizer_from_dict(extras[f"{side}_tokenizer"]))
        check_size(path, f"{side}_tokenizer", toks[-1].vocab_size, model, f"{side}_vocab_size")
    return TranslatePredictor(model, config, *toks, path)


def read_pairs(src: str | Path, tgt: str | Path, *, empty: str = "skip",
               encoding: str = "utf-8") -> ParallelText:
    """Aligned pairs from two files, one tokenised sentence per line (see ``read_parallel``)."""
    return read_parallel(src, tgt, empty=empty, encoding=encoding)


register_app(TASK, load)
