"""Training a classifier (or an ensemble of K) with ``rnnkit.fit`` and saving one checkpoint.

Model selection watches the accuracy on a stratified ``val_fraction`` of the training examples
(or on ``val_examples``): ``fit(monitor="val_accuracy", mode="max")`` keeps the best epoch's
weights and stops after ``patience`` epochs without improvement. With ``ensemble=K``, K
models are trained the same way from seeds ``seed, seed + 100, ...`` and saved as one
``ClassifierEnsemble`` whose probabilities are their average (numeric series by default: five
on training sets of up to 1,000 series, one above; ``config.numeric_size_defaults``). With
``ema=d`` each model's held-out accuracy, best epoch and saved weights are those of an
exponential moving average of its weights (``WeightAverage``). With ``refit`` each model is
then trained again from its seed on all the examples (the held-out ones included) for the
epochs chosen on them, schedule as in that run, and that second model is the one saved
(``val_accuracy`` stays the validated one's). With ``warm_restarts`` each model after the
first starts from the last one's weights (its own seed still orders the batches): snapshot
ensembles (Huang et al. 2017), K snapshots for the CPU of one network trained K times as long.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...data.classification import (
    SequenceDataset,
    balanced_class_weights,
    make_loader,
    stratified_split,
)
from ...models.ensemble import ClassifierEnsemble
from ...models.text_classifier import TextClassifier
from ...runtime import check_memory, seed_everything
from ...train import History
from ...training.averaging import WeightAverage
from ...training.start_notice import say_pending
from ..base import check_task_folder
from ..fingerprint import fingerprint
from ..finished import finished_run, say_finished
from .config import NUMERIC_ONLY, TEXT_ONLY, Config
from .inputs import Examples, Preprocessing

__all__ = ["train", "ClassifyHistory", "WeightAverage", "NGRAM_SCALES", "EXTRAS_KEY", "TASK",
           "other_kind_notes"]

TASK = "classify"
EXTRAS_KEY = "classify"  # extras[EXTRAS_KEY]: the Preprocessing (the 0.1.0 key, kept)
NGRAM_SCALES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)


@dataclass
class ClassifyHistory(History):
    """``fit``'s History of every member (rows carry ``member``), and what was kept."""

    val_accuracy: float | None = None  # of the saved model (ensemble), on the held-out part
    notes: list = field(default_factory=list)  # what the user should know (an empty held-out part)
    best_epochs: list = field(default_factory=list)  # per member: the epoch whose weights were kept
    seconds: float = 0.0
    model: torch.nn.Module | None = None  # the trained model (not saved with the history)
    preprocessing: Preprocessing | None = None
    config: Config | None = None  # as trained: every default resolved for this data

    def to_dict(self) -> dict:
        return {**super().to_dict(), "val_accuracy": self.val_accuracy,
                "best_epochs": self.best_epochs, "seconds": self.seconds}


def build_model(config: Config, prep: Preprocessing, train_set: SequenceDataset
                ) -> TextClassifier:
    """The ``TextClassifier`` that ``config`` describes, sized for ``prep``'s inputs."""
    weights = config.weights()
    C = prep.labels.num_classes
    if weights == "balanced":
        weights = balanced_class_weights(train_set.targets, C)
    elif weights == "none":
        weights = None
    elif len(weights) != C:
        raise ValueError(f"classify: class_weights needs {C} numbers (one per class: "
                         f"{', '.join(prep.labels.classes)}), got {len(weights)}")
    text = prep.kind == "text"
    conv = 0 if text or config.frontend == "none" else config.conv_channels
    longest = 0 if text else int(max(len(s) for s in train_set.sequences))
    downsample = 1 if text else max(1, math.ceil(longest / config.max_steps))
    model = TextClassifier(
        prep.input_size, config.hidden_size, C,
        vocab_size=prep.tokenizer.vocab_size if text else None,
        embedding_dim=config.embedding_dim, cell=config.cell, num_layers=config.num_layers,
        bidirectional=config.bidirectional, pooling=config.pooling, dropout=config.dropout,
        embedding_dropout=config.embedding_dropout,
        word_dropout=config.word_dropout if text else 0.0, class_weights=weights,
        ngram_buckets=config.ngram_buckets if text else 0,
        subword_buckets=prep.subword_buckets, label_smoothing=config.label_smoothing,
        conv_channels=conv, downsample=downsample, conv_dilation=config.conv_dilation,
        crop=1.0 if text else config.crop, differences=not text and config.differences)
    if model.differences is not None:  # the changes' mean and std, from the training series
        model.differences.fit(train_set.sequences)
    return model


def _fit_member(config: Config, prep: Preprocessing, train_set, val_set, run_dir, *,
                resume: bool, device, progress: bool, time_budget,
                stop_after: int | None = None, ngram_scale: float | None = None,
                start_from: torch.nn.Module | None = None) -> tuple:
    """One model, fitted with the best held-out epoch kept: (model, History, best epoch).

    ``stop_after`` (``refit``: no held-out data) stops after that many epochs, the schedule
    still spanning ``config.epochs`` as in the run that chose them; ``ngram_scale`` is the
    n-gram expert's weight chosen there; ``start_from`` (``warm_restarts``): a model whose
    weights this one starts from instead of fresh ones (a resumed run's own state wins)."""
    from ...train import fit  # late: the data side loads without the training loop

    seed_everything(config.seed)  # the initial weights
    model = build_model(config, prep, train_set)
    if start_from is not None:  # the n-gram expert is counted after training, never trained:
        # the RNN trains alone (ngram_scale 0), so it is not carried over with the weights
        model.load_state_dict({k: v for k, v in start_from.state_dict().items()
                               if not k.startswith("ngram")}, strict=False)
    # the best epoch by held-out accuracy (ties: the lower held-out loss), not by loss: a
    # classifier's held-out loss often turns up (growing over-confidence) while its accuracy
    # still improves; without held-out data the last epoch is kept
    watch = val_set is not None
    loader = make_loader(train_set, config.batch_size, shuffle=True, seed=config.seed)
    average = WeightAverage(model, config.ema, len(loader), stop_after or config.epochs) \
        if config.ema else None
    stop = [] if stop_after is None else [
        lambda event, info: event == "epoch_end" and info["epoch"] >= stop_after]
    history = fit(model, loader,
                  val_data=make_loader(val_set, 256) if val_set is not None else None,
                  epochs=config.epochs, loss=model.loss, lr=config.lr,
                  weight_decay=config.weight_decay, optimizer=config.optimizer,
                  schedule=None if config.schedule == "none" else config.schedule,
                  metrics=("accuracy",), monitor="val_accuracy" if watch else None,
                  mode="max", early_stopping=(config.patience or None) if watch else None,
                  seed=config.seed, device=device, progress=progress,
                  time_budget=time_budget, checkpoint_dir=run_dir,
                  resume=resume and run_dir is not None,
                  # stored with the member's state: a resume with other data or other model
                  # settings is refused
                  extras={"task": TASK, "config": config.to_dict(), EXTRAS_KEY: prep.to_dict(),
                          "data": fingerprint([*train_set.sequences, train_set.targets],
                                              len(train_set.sequences), "examples")},
                  callbacks=([average] if average else []) + stop)
    model.eval()
    if model.ngrams is not None:  # counted even without held-out data (then weighted 1)
        _add_ngram_expert(model, train_set, val_set, ngram_scale)
    return model, history, history.best_epoch if watch else len(history.rows)


def _check_text_lengths(config: Config, train_set: SequenceDataset) -> None:
    """Refuse, before training, a batch padded to the longest text that cannot fit (the
    layer would refuse it only when that text's batch comes, maybe minutes in), pointing at
    ``max_length``."""
    from ...layers import estimate_size

    longest = max(len(s) for s in train_set.sequences)
    size = estimate_size(config.cell, config.embedding_dim, config.hidden_size,
                         config.num_layers, config.bidirectional, config.batch_size, longest)
    embedded = 4 * config.batch_size * longest * config.embedding_dim  # and its dropout copy
    try:  # x2: what the backward pass holds beside them (their gradients)
        check_memory(f"classify: a batch of {config.batch_size} texts padded to the longest "
                     f"({longest:,} tokens)", 2 * (size["activation_bytes"] + 2 * embedded))
    except ValueError as err:
        raise ValueError(f"{err}; cut long texts with --max-length (e.g. 400 tokens)") from None


def other_kind_notes(config: Config, kind: str, spell=str) -> list[str]:
    """A note naming the settings given for the other input kind, which ``kind`` ("text" or
    "numeric") ignores (``crop`` and ``ngram_buckets`` are refused instead: they would change
    what trains); ``spell`` writes a setting's name (the CLI's: as the flag typed, said before
    training starts). ``[]`` when none was given."""
    other, owner, reader = ((NUMERIC_ONLY, "numeric series", "text") if kind == "text"
                            else (TEXT_ONLY, "text", "numeric series"))
    defaults = {f.name: f.default for f in fields(Config)}
    # crop: refused for text where it is not 1 (off), which text resolves it to
    given = [k for k in other if k != "crop" and getattr(config, k) != defaults[k]]
    if not given:
        return []
    one = len(given) == 1
    return [f"{', '.join(map(spell, given))} {'is a setting' if one else 'are settings'} for "
            f"{owner}; {reader} training ignores {'it' if one else 'them'}"]


def _held_out_notes(fraction: float, y: np.ndarray, held: np.ndarray, classes) -> list[str]:
    """What the held-out share gave: nothing (every class too small), or classes left out."""
    if not len(held):
        return [f"val_fraction {fraction:g} holds out no example (each class keeps at least "
                "one for training, and rounds its share to none): trained without a held-out "
                "part, the last epoch kept"]
    missing = sorted(set(range(len(classes))) - set(y[held].tolist()))
    if not missing:
        return []
    names = ", ".join(str(classes[c]) for c in missing[:5]) + (" ..." if len(missing) > 5 else "")
    return [f"{len(missing)} class(es) have no held-out example (too few to spare one): {names}; "
            "the held-out accuracy does not measure them"]


def train(config: Config, examples: Examples, checkpoint: str | os.PathLike | None = None, *,
          val_examples: Examples | None = None, class_order=None, resume: bool = False,
          device: str = "cpu", progress: bool = True, time_budget: float | None = None,
          info: dict | None = None) -> ClassifyHistory:
    """Fit ``config.ensemble`` classifiers on ``examples`` and save them to ``checkpoint``.

    Returns a ``ClassifyHistory`` (``fit``'s rows for every member, the held-out accuracy of
    the saved model, and the model and preprocessing themselves). ``resume`` continues an
    interrupted run stored in ``checkpoint`` (each member's ``fit`` state lives in
    ``checkpoint/members/K`` until the whole run is saved). ``time_budget``: seconds per
    member.
    """
    from ...checkpoint import another_rank, check_folder, save

    folder = None if checkpoint is None else check_folder(checkpoint, "classify: checkpoint")
    if folder is not None:
        check_task_folder(folder, TASK, "classify: checkpoint")
    if examples.labels is None:
        raise ValueError("training needs labelled examples")
    config = config.check().resolved(examples.kind, len(examples), examples.lengths)
    if resume and folder is not None and finished_run(folder, TASK, config.to_dict(), "members"):
        return _finished(folder)  # the run state goes once the model is saved
    prep = Preprocessing.fit(examples, min_freq=config.min_freq, max_vocab=config.max_vocab,
                             max_length=config.max_length, class_order=class_order,
                             subword_buckets=config.subword_buckets if examples.kind == "text"
                             else 0, normalize=config.normalize)
    prep.info = dict(info or {})
    if examples.kind == "text" and config.crop != 1.0:
        raise ValueError("classify: crop applies to numeric series only, not text")
    if examples.kind == "numeric" and config.ngram_buckets:
        raise ValueError("classify: ngram_buckets applies to text input only, not numeric "
                         "series")
    y = prep.labels.encode(examples.labels).numpy()
    everything, notes = None, []  # refit: every training example, in the given order
    if val_examples is None and config.val_fraction > 0:
        everything = examples
        keep, held = stratified_split(y, config.val_fraction, seed=config.seed)
        if len(held) and len(keep):
            examples, val_examples = examples.subset(keep), examples.subset(held)
        notes = _held_out_notes(config.val_fraction, y, held, prep.labels.classes)
    notes += other_kind_notes(config, examples.kind)
    train_set = prep.dataset(examples)
    if examples.kind == "text":
        _check_text_lengths(config, train_set)
    val_set = prep.dataset(val_examples) if val_examples is not None else None  # checks labels
    refit = config.refit and val_set is not None
    if refit:  # the held-out examples join the training ones for the second fit
        all_set = prep.dataset(everything) if everything is not None else SequenceDataset(
            train_set.sequences + val_set.sequences,
            torch.cat([train_set.targets, val_set.targets]))
    if config.ensemble > 1:  # the K members stay in memory until they are saved together
        n = sum(p.numel() for p in build_model(config, prep, train_set).parameters())
        check_memory(f"classify: an ensemble of {config.ensemble} models of {n:,} parameters",
                     2 * config.ensemble * n * 4)
    start, history, members, validated = time.perf_counter(), ClassifyHistory(notes=notes), [], []
    for k in range(config.ensemble):
        run_dir = folder / "members" / str(k) if folder is not None else None
        member = replace(config, seed=config.seed + 100 * k)
        if progress and config.ensemble > 1:  # which of the K progress bars this is
            say_pending()  # the run's start notices (a checkpoint replaced) come first
            K, left = config.ensemble, ""
            if k:  # the models so far, on average; mm:ss as fit's bar and lines say it
                rest = "it" if k + 1 == K else f"models {k + 1} to {K}"
                each = (time.perf_counter() - start) / k
                left = f"; about {tqdm.format_interval(each * (K - k))} left for {rest}"
            print(f"classify: model {k + 1} of {K} (seed {member.seed}{left})",
                  file=sys.stderr, flush=True)
        model, h, best = _fit_member(member, prep, train_set, val_set, run_dir, resume=resume,
                                     device=device, progress=progress, time_budget=time_budget,
                                     start_from=members[-1] if config.warm_restarts and members
                                     else None)
        validated.append(model)
        history.rows += [{"member": k, **row} for row in h.rows]
        history.grad_norms += h.grad_norms
        history.stop_reason, history.best_epoch = h.stop_reason, best
        history.best_epochs.append(best)
        if refit:  # again from the same seed on every example, for the epochs chosen above
            scale = float(model.ngram_scale) if model.ngrams is not None else None
            model, h, _ = _fit_member(
                member, prep, all_set, None, run_dir and run_dir.with_name(f"{k}-refit"),
                resume=resume, device=device, progress=progress, time_budget=time_budget,
                stop_after=best, ngram_scale=scale)
            history.rows += [{"member": k, "refit": True, **row} for row in h.rows]
            history.grad_norms += h.grad_norms
        members.append(model)
    model = members[0] if len(members) == 1 else ClassifierEnsemble.of(members).eval()
    history.seconds = time.perf_counter() - start
    if val_set is not None:  # with refit: of the validated models (the saved ones saw it)
        checked = validated[0] if len(validated) == 1 else ClassifierEnsemble.of(validated)
        history.val_accuracy = accuracy(checked.eval(), val_set)
    history.model, history.preprocessing, history.config = model, prep, config
    if folder is not None:
        save(model, folder, extras={"task": TASK, EXTRAS_KEY: prep.to_dict(),
                                    "config": config.to_dict()})
        history.write(folder)
        history.plot(folder / "history.png")
        if not another_rank():  # rank 0 alone writes (rnnkit launch)
            shutil.rmtree(folder / "members", ignore_errors=True)  # the run is complete
    return history


def _finished(folder: Path) -> ClassifyHistory:
    """``resume`` of a finished run: nothing trained, the saved model and its history as they
    are (one note on stderr)."""
    from .predictor import load

    doc = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    history = ClassifyHistory(**{k: v for k, v in doc.items()
                                 if k in {f.name for f in fields(ClassifyHistory)}})
    saved = load(folder)
    history.model, history.preprocessing = saved.model, saved.preprocessing
    history.config = saved.config
    history.already_finished = True
    say_finished(TASK, folder)
    return history


@torch.no_grad()
def accuracy(model: torch.nn.Module, dataset: SequenceDataset) -> float:
    """Share of ``dataset`` that ``model`` classifies right."""
    model.eval()
    device = next(model.parameters()).device
    right = sum(int((model(x.to(device), n).argmax(1).cpu() == t).sum())
                for (x, n), t in make_loader(dataset, 256))
    return right / len(dataset)


@torch.no_grad()
def _add_ngram_expert(model: TextClassifier, train_set: SequenceDataset,
                      val_set: SequenceDataset | None, scale: float | None = None) -> None:
    """Count the naive-Bayes n-grams on ``train_set``; pick ``ngram_scale`` on ``val_set`` by
    held-out accuracy (ties: the lower cross-entropy); ``scale`` (refit: the one chosen before)
    or 1 without held-out data."""
    device = model.ngram_scale.device

    def words(x):  # word ids (B, T) of (B, T) or (B, T, 1 + K) inputs
        return x[..., 0] if x.dim() == 3 else x

    model.ngrams.fit((words(x), n, t) for (x, n), t in make_loader(train_set, 1024))
    if val_set is None:
        model.ngram_scale.fill_(1.0 if scale is None else scale)
        return
    rnn, nb = [], []
    model.ngram_scale.fill_(0.0)
    for (x, n), _ in make_loader(val_set, 256):
        x = x.to(device)
        rnn.append(model(x, n).double())
        nb.append(model.ngrams(words(x), n).double())
    rnn, nb, y = torch.cat(rnn), torch.cat(nb), val_set.targets.to(device)
    # by held-out accuracy, ties to the lower cross-entropy: naive Bayes sums one log-ratio per
    # n-gram and is over-confident, so the loss alone picks a scale near 0 and wastes the
    # expert (MR folds 0-2: 75.4 % by loss, 77.7 % by accuracy; RNN 75.4, NB 77.2)
    mixed = [rnn + s * nb for s in NGRAM_SCALES]
    keys = [((m.argmax(1) == y).double().mean().item(), -F.cross_entropy(m, y).item())
            for m in mixed]
    best = max(range(len(NGRAM_SCALES)), key=keys.__getitem__)
    model.ngram_scale.fill_(NGRAM_SCALES[best])
