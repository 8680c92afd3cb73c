"""Data-parallel training on ``torch.distributed``: what ``fit`` does when launched by torchrun.

PyTorch's own machinery does the work (Li et al., 2020, "PyTorch Distributed: Experiences on
Accelerating Data Parallel Training"): ``torchrun`` starts one process per device and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; ``fit`` sees them,
joins the process group (gloo on CPU, NCCL on CUDA with ``LOCAL_RANK`` choosing the GPU, a
timeout on every collective) and wraps the model in ``DistributedDataParallel``, which averages
the gradients across processes during ``backward``.

**``batch_size`` is global**: the number of samples (or parallel streams, for truncated BPTT)
in one optimizer step, summed over all processes. Every process draws the same global order
(the shuffling generator is seeded alike everywhere) and takes its strided share of each global
batch, rows ``rank, rank + W, ...`` — ``DistributedSampler``'s layout, without its padding. So
``W`` processes with ``b`` give the same steps as one process with ``b``, each process working
on ``b / W`` rows; the streams of truncated BPTT are split the same way (a process always gets
the same streams, so its carried state stays its own). A ``DataLoader`` whose sampler is
already a ``DistributedSampler`` is left alone (its ``batch_size`` is then per process) and
gets ``set_epoch`` every epoch.

Exactness with uneven shares. Each process's loss is weighted by its share of the elements the
global mean runs over (rows; non-ignored targets for ``"cross_entropy"``), so DDP's average is
the global batch's mean. A process whose share of a small last batch is empty computes on a
stand-in row with weight 0 (pad-and-mask), so that every process joins every collective. The
training loss, metrics and validation are summed over processes before they are reported
(validation, like one process, weights each batch's mean loss by its rows: exact for losses
averaged over rows; with padded ``cross_entropy`` targets (-100) each process's share is
weighted by its rows, a slightly different average). A callable loss with its own weighting
(class weights) is weighted by rows across processes in training too.

Decisions that must agree. Every value ``fit`` decides on (losses, gradient norms, the stop
flags of the time budget and of callbacks) is the same all-reduced number on every process,
the learning rates are rank 0's at every step (a callback may set them from its clock), so
early stopping, the non-finite skip, keeping the best epoch and stopping on time are taken by
all processes at the same step; no process waits on a collective another one skipped. Rank 0
alone writes the checkpoint, the history and the progress bar; the others wait for it at the
end of ``fit``. A process that dies makes the others fail at their next collective, with a
one-line ``DistributedError`` (``RNNKIT_DIST_TIMEOUT`` seconds at most, default 300, when a
peer hangs instead), and torchrun stops the rest; the last checkpoint is complete (atomic
writes) and ``resume=True`` continues from it.
"""

from __future__ import annotations

import atexit
import collections
import datetime
import math
import os

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler

from .data import Arrays, _map, call_model, to_device
from .losses import IGNORE, LOSSES

__all__ = ["DistributedError", "Local", "Parallel", "start", "launched", "TIMEOUT_ENV"]

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_ENV, DEFAULT_TIMEOUT = "RNNKIT_DIST_TIMEOUT", 300.0


class DistributedError(RuntimeError):
    """A collective failed: another process died, hung past the timeout, or lost the network."""


def launched() -> bool:
    """True under torchrun (or any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR/PORT)."""
    return all(k in os.environ for k in TORCHRUN_ENV)


def _world_from_env() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"fit: WORLD_SIZE must be an integer, got "
                         f"{os.environ['WORLD_SIZE']!r}") from None


def start(distributed, device: torch.device):
    """``(run, device)``: ``Local()`` for one process, ``Parallel`` when several train together.

    ``distributed``: "auto" (several processes when launched by torchrun with WORLD_SIZE > 1,
    or when a process group of more than one is already initialised), True (required: an error
    outside such a launch) or False (this process trains alone even under torchrun).
    """
    if distributed not in (True, False, "auto"):
        raise ValueError(f"fit: distributed must be True, False or 'auto', got {distributed!r}")
    if distributed is False:
        return Local(), device
    joined = dist.is_available() and dist.is_initialized()
    world = dist.get_world_size() if joined else _world_from_env() if launched() else 1
    if world < 2:
        if distributed is True and not (joined or launched()):
            raise ValueError("fit: distributed=True needs a torch.distributed launch (RANK, "
                             "WORLD_SIZE, MASTER_ADDR and MASTER_PORT are not set); start it "
                             "with torchrun or rnnkit launch --nproc N")
        return Local(), device
    if device.type == "cuda":
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    if not joined:
        _init_group(device)
    return Parallel(device), device


def _init_group(device: torch.device) -> None:
    text = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise ValueError(f"fit: {TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {"device_id": device} if backend == "nccl" else {}
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds), **kwargs)
    except (RuntimeError, ValueError) as e:
        raise DistributedError(f"fit: cannot join the process group ({backend}, "
                               f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')})"
                               f": {_first_line(e)}") from e
    atexit.register(_leave)


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def mean_count(loss_fn, target: Tensor) -> int:
    """How many elements ``loss_fn``'s mean runs over, in units common to all processes."""
    if loss_fn is LOSSES["cross_entropy"] and not target.is_floating_point():
        return int((target != IGNORE).sum())
    return len(target)


# --------------------------------------------------------------------------- one process
class Local:
    """One process: every hook is the identity (fit's single-process behaviour, unchanged)."""

    rank, world, is_main = 0, 1, True

    def wrap(self, model: nn.Module, opt=None) -> nn.Module:
        return model

    def shard(self, batches, train: bool = True):
        return batches

    def seed(self, seed, epoch: int) -> None:
        pass

    def epoch(self, epoch: int) -> None:
        pass

    def step(self, loss_t: Tensor, target: Tensor, loss_fn) -> tuple[float, int, bool]:
        """``(loss, samples, finite)`` of this step, over all processes."""
        value = float(loss_t.detach())
        return value, len(target), math.isfinite(value)

    def forward(self, net: nn.Module, inputs, *extra):
        """``call_model(net, inputs, *extra)``: the prediction and the rest."""
        return call_model(net, inputs, *extra)

    def backward(self, loss_t: Tensor) -> None:
        loss_t.backward()

    def update(self, sums, pred: Tensor, target: Tensor) -> None:
        sums.update(pred, target)

    def sum(self, *values: float) -> tuple[float, ...]:
        return values

    def result(self, sums) -> dict[str, float]:
        return sums.result()

    def any(self, flag: bool) -> bool:
        return bool(flag)

    def agree(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (e.g. a monitored number computed per rank)."""
        return value

    def finish(self) -> None:
        pass


# ----------------------------------------------------------------------- several processes
class Parallel(Local):
    """This process's part in a data-parallel run over an initialised process group."""

    def __init__(self, device: torch.device):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        self.device = device
        self.cdev = device if dist.get_backend() == "nccl" else torch.device("cpu")
        self.train = None  # the sharded training batches (their ``count`` is read per step)
        self.weight, self.opt = 1.0, None

    def _collective(self, what: str, fn, *args):
        try:
            return fn(*args)
        except (RuntimeError, ValueError) as e:
            raise DistributedError(
                f"fit: rank {self.rank} of {self.world} lost the other processes during {what} "
                f"({_first_line(e)})") from e

    def wrap(self, model: nn.Module, opt=None) -> nn.Module:
        self.opt = opt  # its learning rates follow rank 0's (a callback may set them by clock)
        dev = [self.device.index] if self.device.type == "cuda" else None
        return self._collective("setup", lambda: DistributedDataParallel(
            model, device_ids=dev, find_unused_parameters=_has_unused(model, self.train)))

    def shard(self, batches, train: bool = True):
        """This rank's part of ``batches`` (see the module docstring)."""
        if batches is None:
            return None
        if isinstance(batches, Arrays):
            out = _ArraysShare(batches, self.rank, self.world, stand_in=train)
        elif isinstance(batches, DataLoader) and isinstance(batches.sampler, DistributedSampler):
            out = _Own(batches)
        elif isinstance(batches, DataLoader) and batches.batch_sampler is not None and \
                not isinstance(batches.dataset, torch.utils.data.IterableDataset):
            out = _LoaderShare(batches, self.rank, self.world, stand_in=train)
        else:
            out = _RowShare(batches, self.rank, self.world, stand_in=train)
        if train:
            self.train = out
        return out

    def seed(self, seed, epoch: int) -> None:
        # dropout differs between processes; rank 0 draws what a single process would
        if seed is not None and self.rank:
            torch.manual_seed(seed + 1_000_003 * self.rank + epoch)

    def epoch(self, epoch: int) -> None:
        set_epoch = getattr(self.train, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)

    def step(self, loss_t, target, loss_fn):
        real = self.train.count if self.train is not None else len(target)
        value = float(loss_t.detach()) if real else 0.0
        finite = math.isfinite(value)
        c = mean_count(loss_fn, target) if real else 0
        groups = self.opt.param_groups if self.opt is not None else []
        lrs = [g["lr"] if self.is_main else 0.0 for g in groups if isinstance(g["lr"], float)]
        t = torch.tensor([0.0 if finite else 1.0, real, c, value * c if finite else 0.0, *lrs],
                         dtype=torch.float64, device=self.cdev)
        self._collective("a training step", dist.all_reduce, t)
        bad, n, c_all, total, *lrs = t.tolist()
        for g, lr in zip((g for g in groups if isinstance(g["lr"], float)), lrs, strict=True):
            g["lr"] = lr  # rank 0's
        self.weight = c * self.world / c_all if c_all else 0.0
        return (total / c_all if c_all else math.nan), int(n), bad == 0

    def forward(self, net: nn.Module, inputs, *extra):
        # DDP's forward broadcasts rank 0's buffers (e.g. standardisation statistics) first:
        # a collective too (the model's own errors were caught on the first batch, unwrapped)
        return self._collective("forward (buffer broadcast)",
                                lambda: call_model(net, inputs, *extra))

    def backward(self, loss_t):
        self._collective("backward (gradient all-reduce)",
                         lambda: (loss_t * self.weight).backward())

    def update(self, sums, pred, target):
        if self.train is None or self.train.count:
            sums.update(pred, target)

    def sum(self, *values):
        t = torch.tensor(values, dtype=torch.float64, device=self.cdev)
        self._collective("a reduction", dist.all_reduce, t)
        return tuple(t.tolist())

    def result(self, sums):
        names = list(sums.metrics)
        if names:
            totals = self.sum(*[sums.sums[k] for k in names], *[sums.counts[k] for k in names])
            for i, k in enumerate(names):
                sums.sums[k], sums.counts[k] = totals[i], totals[len(names) + i]
        return sums.result()

    def any(self, flag):
        t = torch.tensor([1.0 if flag else 0.0], device=self.cdev)
        self._collective("a stop decision", dist.all_reduce, t, dist.ReduceOp.MAX)
        return bool(t.item())

    def agree(self, value):
        t = torch.tensor([value], dtype=torch.float64, device=self.cdev)
        self._collective("a shared decision", dist.broadcast, t, 0)
        return t.item()

    def finish(self):
        self.any(False)  # a barrier: rank 0's last checkpoint is written when fit returns


def _has_unused(model: nn.Module, share) -> bool:
    """Whether some trainable parameter gets no gradient (DDP must then look for them).

    One forward and backward in eval mode (no dropout drawn, no running statistics moved) on a
    first batch read without touching any shuffling generator.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if share is None or not params:
        return False
    was_training = model.training
    model.eval()
    try:
        inputs = to_device(_probe_batch(share)[0], params[0].device)
        with torch.backends.cudnn.flags(enabled=False):
            pred, _ = call_model(model, inputs)
            grads = torch.autograd.grad(pred.float().sum(), params, allow_unused=True)
    except (RuntimeError, ValueError, TypeError, IndexError, StopIteration):
        return True  # cannot tell: let DDP search (slower, always correct)
    finally:
        model.train(was_training)
    return any(g is None for g in grads)


def _probe_batch(share):
    if isinstance(share, Arrays):  # not iterated: that would draw from the shuffling generator
        return _map(lambda t: t[:2], share.X), share.y[:2]
    if isinstance(share, (_LoaderShare, _Own)):
        loader = share.loader
        return loader.collate_fn([loader.dataset[i] for i in range(min(2, len(loader.dataset)))])
    return next(iter(share.batches))


# ------------------------------------------------------------------------- the shares
class _ArraysShare(Arrays):
    """In-memory arrays: the same global order everywhere, this rank's rows of each batch."""

    def __init__(self, base: Arrays, rank: int, world: int, stand_in: bool):
        super().__init__(base.X, base.y, base.batch_size, base.shuffle, base.generator)
        self.rank, self.world, self.stand_in, self.count = rank, world, stand_in, 0

    def __iter__(self):
        order = (torch.randperm(self.n, generator=self.generator) if self.shuffle
                 else torch.arange(self.n))
        for idx in order.split(self.batch_size):
            share = idx[self.rank::self.world]
            self.count = len(share)
            if not self.count:
                if not self.stand_in:
                    continue
                share = idx[:1]  # computed with weight 0
            yield _map(lambda t, s=share: t.index_select(0, s), self.X), self.y[share]


class _ShareSampler:
    """A batch sampler yielding this rank's indices of each global batch of ``inner``."""

    def __init__(self, inner, rank: int, world: int, stand_in: bool):
        self.inner, self.rank, self.world, self.stand_in = inner, rank, world, stand_in
        self.counts: collections.deque[int] = collections.deque()

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self):
        self.counts.clear()
        for idx in self.inner:
            share = list(idx)[self.rank::self.world]
            if not share:
                if not self.stand_in:
                    continue
                self.counts.append(0)
                yield list(idx)[:1]
                continue
            self.counts.append(len(share))
            yield share

    def set_epoch(self, epoch: int) -> None:
        for obj in (self.inner, getattr(self.inner, "sampler", None)):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)


class _LoaderShare:
    """A DataLoader rebuilt to load only this rank's indices (collated per rank)."""

    def __init__(self, loader: DataLoader, rank: int, world: int, stand_in: bool):
        inner = loader.batch_sampler
        if isinstance(inner, BatchSampler) and isinstance(inner.sampler, RandomSampler) and \
                inner.sampler.generator is None:
            # the global RNG differs between ranks (dropout): shuffle with a shared generator
            g = loader.generator or torch.Generator().manual_seed(torch.initial_seed() % 2**63)
            inner = BatchSampler(RandomSampler(loader.dataset, inner.sampler.replacement,
                                               inner.sampler._num_samples, generator=g),
                                 inner.batch_size, inner.drop_last)
        self.sampler = _ShareSampler(inner, rank, world, stand_in)
        workers = loader.num_workers
        self.loader = DataLoader(
            loader.dataset, batch_sampler=self.sampler, num_workers=workers,
            collate_fn=loader.collate_fn, pin_memory=loader.pin_memory, timeout=loader.timeout,
            worker_init_fn=loader.worker_init_fn, generator=loader.generator,
            prefetch_factor=loader.prefetch_factor if workers else None,
            persistent_workers=loader.persistent_workers if workers else False)
        self.generator, self.count = loader.generator, 0

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for batch in self.loader:
            self.count = self.sampler.counts.popleft()
            yield batch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)


class _Own:
    """A DataLoader already sharded by a DistributedSampler: used as given, set_epoch'ed."""

    def __init__(self, loader: DataLoader):
        self.loader, self.generator, self.count = loader, loader.generator, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for inputs, target in self.loader:
            self.count = len(target)
            yield inputs, target

    def set_epoch(self, epoch: int) -> None:
        self.loader.sampler.set_epoch(epoch)


class _RowShare:
    """Any iterable of global batches (StreamBatches, a list): this rank's rows of each.

    Truncated BPTT: rows are streams, and a rank keeps the same streams in every chunk.
    """

    def __init__(self, batches, rank: int, world: int, stand_in: bool):
        self.batches, self.rank, self.world, self.stand_in = batches, rank, world, stand_in
        self.count = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for inputs, target in self.batches:
            n = len(target)
            rows = slice(self.rank, None, self.world)
            self.count = len(range(n)[rows])
            if not self.count:
                if not self.stand_in:
                    continue
                rows = slice(0, 1)

            def cut(t, rows=rows, n=n):
                return t[rows] if isinstance(t, Tensor) and t.dim() and len(t) == n else t
            yield _map(cut, inputs), target[rows]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.batches, "set_epoch"):
            self.batches.set_epoch(epoch)
