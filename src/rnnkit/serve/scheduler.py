"""Continuous batching for recurrent language models: every open stream, one step per tick.

A recurrent model's state has the same small size for every stream however long it has run,
so all the streams of one model can advance together: one ``model(tokens (B, 1), state)``
call per tick for B streams. A new stream joins at the next tick (its prompt read in one
call, as ``rnnkit.generate.stream`` reads it, together with the other new prompts of the same
length); a finished, cancelled or timed-out stream leaves at the next tick and its rows of the
batched state are dropped then.

Each stream's tokens are the ones ``rnnkit.generate.stream(model, prompt, seed=...)`` would
give alone: the logits of its row go through the same temperature, top-k and top-p
arithmetic (row by row, per-row settings), and its draw uses its own ``torch.Generator``
with the draw ``torch.multinomial`` makes for one sample (an exponential race: the argmax of
``p / q``, ``q ~ Exp(1)`` drawn from the stream's generator; ``tests/test_serve.py`` checks
the tokens against ``generate.stream``).

The ticks run back to back in a thread of their own, so the event loop keeps answering
requests and sending the previous ticks' tokens while the next one computes. The step thread
appends each token to its stream's ``pending`` deque as it is drawn (before the tick's step: a
reader still busy sending the earlier ones takes it with them) and calls the event loop only
when a reader is due (it waits, has tokens, and its ``interval`` has passed) or a stream
ended: one
``call_soon_threadsafe`` then wakes them all (one future each, no queue per token), and each
reader sends every token drawn since its last send in one write. With ``interval`` > 0 a
reader is woken at most once per ``interval`` seconds, so a fast step's tokens go out a few at
a time (each still its own SSE event): fewer socket sends and event-loop wake-ups, the
server's main cost per token.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..generate import greedy, scaled, suppressed
from ..state_tree import tree_map

__all__ = ["GenerationSettings", "StreamHandle", "FinishedHandle", "BatchScheduler", "Busy",
           "RowSampler"]


class Busy(Exception):
    """Every stream slot is taken (the HTTP layer answers 429 with Retry-After)."""


@dataclass
class GenerationSettings:
    """One stream's sampling settings (already checked by the request schema)."""

    max_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0  # > 1: tokens of the prompt and the text so far less likely
    seed: int | None = None
    eos_id: int | None = None  # the token that ends the stream (word-level LMs: <eos>)


@dataclass(eq=False)
class StreamHandle:
    """One open stream: what the HTTP handler reads from (``await take()``) and cancels.

    The step thread appends each tick's token to ``pending`` (a deque: appends and pops are
    atomic, so neither side locks) and has the reader woken at most once per ``interval`` of
    the scheduler; the reader takes everything drawn since its last take in one go, so a
    reader that fell behind catches up in one send.
    """

    prompt: list[int]
    settings: GenerationSettings
    deadline: float | None = None  # time.monotonic() after which the stream is ended
    pending: deque[int] = field(default_factory=deque)  # drawn (step thread), not yet taken
    ended: str | None = None  # why the stream ended, once its last token is in pending
    generated: int = 0
    stop: str | None = None  # set by cancel(): why the stream leaves at the next tick
    finish_reason: str | None = None  # set by the step thread when the stream leaves
    started: float = field(default_factory=time.monotonic)
    generator: torch.Generator | None = None
    seen: Tensor | None = None  # (V,) bool: prompt and drawn tokens (repetition penalty only)
    next_wake: float = 0.0  # the reader is woken again no earlier than this (step thread)
    _waiter: asyncio.Future | None = None

    def cancel(self, reason: str = "cancelled") -> None:
        """Leave at the next tick (the client went away); its state rows are freed then."""
        if self.stop is None:
            self.stop = reason

    def stop_reason(self, now: float) -> str | None:
        if self.stop is None and self.deadline is not None and now > self.deadline:
            self.stop = "timeout"
        return self.stop

    async def take(self) -> tuple[list[int], str | None]:
        """``(tokens, ended)``: every token drawn since the last take (waiting until there is
        one or the stream ends), and why the stream ended (None while it runs)."""
        while not self.pending and self.ended is None:  # (a wake may come early: wait on)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        pending, tokens = self.pending, []
        while pending:  # (not list(pending): the step thread may append meanwhile)
            tokens.append(pending.popleft())
        return tokens, self.ended

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def end(self, reason: str) -> None:
        """The stream is over (event loop side): its reader gets the rest and ``reason``."""
        self.ended = reason
        self.wake()


class FinishedHandle:
    """A generation already made whole (a beam search), read as a ``StreamHandle`` is: one
    ``take`` gives every token and why it ended; ``cancel`` has nothing left to stop."""

    def __init__(self, tokens: list[int], reason: str):
        self._tokens, self.reason = list(tokens), reason

    async def take(self) -> tuple[list[int], str]:
        tokens, self._tokens = self._tokens, []
        return tokens, self.reason

    def cancel(self, reason: str = "cancelled") -> None:
        pass


class RowSampler:
    """The sampling settings of a batch's rows as tensors, built once per batch membership.

    ``sample(logits (B, V))`` draws one token per row, each with its stream's settings: row by
    row the same arithmetic as ``rnnkit.generate.sample_next`` on a batch of one, so a stream
    draws the same tokens here as alone. Seeded streams draw from their own generator (one
    call each); unseeded ones share one draw from torch's global generator, as
    ``generate.stream`` without a seed does.
    """

    def __init__(self, streams: list[StreamHandle], vocab_size: int):
        # Decided in Python, as sample_next decides (temperature == 0: greedy; top-k below V;
        # top-p below 1); tensors only for what the rows use. Built whenever a stream joins
        # or leaves, so it is kept cheap: the default settings make two small tensors.
        V = vocab_size
        # the repetition penalty, before everything else as in sample_next: per row, the
        # logits of the tokens its stream has seen (prompt and drawn), divided by the penalty
        # where positive and multiplied where negative
        self.penalised = [(i, s) for i, s in enumerate(streams)
                          if s.settings.repetition_penalty != 1.0]
        for _, s in self.penalised:
            if s.seen is None:
                s.seen = torch.zeros(V, dtype=torch.bool)
                s.seen[torch.tensor(s.prompt, dtype=torch.long)] = True
        picked = [s for s in streams if not greedy(s.settings.temperature)]  # others: greedy
        self.greedy_only = not picked
        self.rows = None if len(picked) == len(streams) else torch.tensor(
            [i for i, s in enumerate(streams) if not greedy(s.settings.temperature)],
            dtype=torch.long)
        temps = [s.settings.temperature for s in picked]
        self.temps = None if all(t == 1.0 for t in temps) else torch.tensor(  # (x / 1 is x)
            temps, dtype=torch.float32).unsqueeze(1)
        ks = [V if s.settings.top_k is None else min(s.settings.top_k, V) for s in picked]
        self.use_k = self.k_index = None
        if any(k < V for k in ks):
            self.use_k = torch.tensor([k < V for k in ks]).unsqueeze(1)
            self.k_index = torch.tensor(ks, dtype=torch.long).sub(1).unsqueeze(1)
        ps = [1.0 if s.settings.top_p is None else s.settings.top_p for s in picked]
        self.use_p = self.ps = None
        if any(p < 1.0 for p in ps):
            self.use_p = torch.tensor([p < 1.0 for p in ps]).unsqueeze(1)
            self.ps = torch.tensor(ps, dtype=torch.float32).unsqueeze(1)
        self.seeded = [(j, s.generator) for j, s in enumerate(picked) if s.generator is not None]
        unseeded = [j for j, s in enumerate(picked) if s.generator is None]
        self.all_unseeded = len(unseeded) == len(picked)
        self.unseeded = None if self.all_unseeded or not unseeded else torch.tensor(
            unseeded, dtype=torch.long)

    def sample(self, logits: Tensor) -> list[int]:
        logits = logits.detach().float()
        if self.penalised:
            logits = logits.clone()
            for i, s in self.penalised:
                row, p = logits[i], s.settings.repetition_penalty
                row[s.seen] = torch.where(row[s.seen] > 0, row[s.seen] / p, row[s.seen] * p)
        tokens = self._draw(logits)
        for i, s in self.penalised:
            s.seen[tokens[i]] = True
        return tokens

    def _draw(self, logits: Tensor) -> list[int]:
        if self.greedy_only:
            return logits.argmax(-1).tolist()
        x = logits if self.rows is None else logits.index_select(0, self.rows)
        if self.temps is not None:
            x = scaled(x, self.temps)
        if self.use_k is not None:
            kth = x.sort(dim=-1, descending=True).values.gather(1, self.k_index)
            x = x.masked_fill((x < kth) & self.use_k, float("-inf"))
        if self.use_p is not None:
            sorted_x, order = x.sort(dim=-1, descending=True)
            soft = sorted_x.softmax(-1)
            drop_sorted = ((soft.cumsum(-1) - soft) >= self.ps) & self.use_p
            drop_sorted[:, 0] = False  # as sample_next: the top token always stays
            x = x.masked_fill(drop_sorted.scatter(1, order, drop_sorted), float("-inf"))
        probs = x.softmax(-1)
        # torch.multinomial's draw for one sample: argmax of p / q with q ~ Exp(1)
        race = torch.empty_like(probs)
        if self.all_unseeded:
            race.exponential_(1)
        else:
            if self.unseeded is not None:
                race[self.unseeded] = torch.empty(len(self.unseeded), probs.shape[1]
                                                  ).exponential_(1)
            for j, generator in self.seeded:
                race[j].exponential_(1, generator=generator)
        drawn = (probs / race).argmax(-1)
        if self.rows is None:
            return drawn.tolist()
        out = logits.argmax(-1)
        out[self.rows] = drawn
        return out.tolist()


class _Batch:
    """The rows of the open streams: their states and their next-token logits (thread side)."""

    def __init__(self, model: nn.Module, suppress_ids=()):
        self.model, self.suppress_ids = model, list(suppress_ids)
        self.streams: list[StreamHandle] = []
        self.state = None
        self.logits: Tensor | None = None
        self.sampler: RowSampler | None = None  # rebuilt when the rows change
        self.finished: list[tuple[StreamHandle, str]] = []  # ended, not yet handed over
        # CPU seconds of this thread in the model (prompts and steps) and the draw: the work
        # of the recurrent steps themselves; everything else the server does is its overhead
        self.model_cpu = 0.0

    def keep(self, keep: list[int]) -> None:
        if len(keep) == len(self.streams):
            return
        self.sampler = None
        self.streams = [self.streams[i] for i in keep]
        if not keep:
            self.state, self.logits = None, None
            return
        index = torch.tensor(keep, dtype=torch.long)
        self.state = tree_map(lambda t: t.index_select(1, index), self.state)
        self.logits = self.logits.index_select(0, index)

    @torch.no_grad()
    def tick(self, joining: list[StreamHandle]) -> int:
        """Admit ``joining``, drop cancelled/expired rows, draw one token per stream, step.

        Each drawn token goes onto its stream's ``pending``; a stream that ended with this
        tick (with its last token, or without one when cancelled or timed out) goes onto
        ``self.finished`` with why, for the scheduler to hand over (a failed step included).
        Returns the number of tokens drawn.
        """
        now = time.monotonic()
        finished = self.finished
        keep = []
        for i, s in enumerate(self.streams):
            if s.stop is None and (s.deadline is None or now <= s.deadline):
                keep.append(i)
            else:
                s.finish_reason = s.stop_reason(now)
                finished.append((s, s.stop))
        self.keep(keep)
        groups: dict[int, list[StreamHandle]] = {}
        for s in joining:
            if s.stop_reason(now):
                s.finish_reason = s.stop
                finished.append((s, s.stop))
                continue
            if s.settings.seed is not None:
                s.generator = torch.Generator().manual_seed(s.settings.seed)
            groups.setdefault(len(s.prompt), []).append(s)
        for group in groups.values():  # prompts of one length: read together, in one call
            cpu = time.thread_time()
            logits, state = self.model(torch.tensor([s.prompt for s in group], dtype=torch.long))
            self.model_cpu += time.thread_time() - cpu
            self.streams += group
            self.sampler = None
            self.state = state if self.state is None else tree_map(
                lambda a, b: torch.cat([a, b], 1), self.state, state)
            last = suppressed(logits[:, -1], self.suppress_ids)
            self.logits = last if self.logits is None else torch.cat([self.logits, last])
        if not self.streams:
            return 0
        if self.sampler is None:
            self.sampler = RowSampler(self.streams, self.logits.shape[-1])
        cpu = time.thread_time()
        tokens = self.sampler.sample(self.logits)
        self.model_cpu += time.thread_time() - cpu
        keep, step = [], []
        for i, (s, token) in enumerate(zip(self.streams, tokens, strict=True)):
            s.pending.append(token)
            s.generated += 1
            settings = s.settings
            if token == settings.eos_id:
                s.finish_reason = "eos"
            elif s.generated >= settings.max_tokens:
                s.finish_reason = "length"
            else:
                keep.append(i)
                step.append(token)
                continue
            finished.append((s, s.finish_reason))
        self.keep(keep)
        if self.streams:
            cpu = time.thread_time()
            x = torch.tensor(step, dtype=torch.long).unsqueeze(1)  # (B, 1): one new token each
            logits, self.state = self.model(x, self.state)
            self.logits = suppressed(logits[:, -1], self.suppress_ids)
            self.model_cpu += time.thread_time() - cpu
        return len(tokens)


class BatchScheduler:
    """Advances every open stream of one language model by one batched step per tick.

    The ticks run back to back in a thread of their own (``rnnkit-step``) while any stream is
    open; each tick's tokens are handed to the event loop with one ``call_soon_threadsafe``,
    so the loop never waits for a step and a step never waits for the loop. When the loop
    falls behind, the tokens of several ticks reach a stream's reader together and go out in
    one write.

    Args:
        model: ``model(tokens (B, T), state) -> (logits (B, T, V), state)``, state batched
            along dim 1 (``rnnkit.LanguageModel``).
        max_streams: open streams at most; ``submit`` raises ``Busy`` beyond.
        interval: seconds between wake-ups of one stream's reader at least (0: after every
            tick); the tokens of the ticks in between go out together, one event each.
        on_tick: called on the event loop after each tick with ``(tokens, seconds)``.
        batched: False serves one stream at a time, first come first served (the baseline
            the load benchmark compares with).
        suppress_ids: tokens never drawn (``textgen.never_drawn``: what is no text), as
            ``generate.stream(..., suppress_ids=...)`` leaves them out.
    """

    def __init__(self, model: nn.Module, *, max_streams: int = 64,
                 on_tick: Callable[[int, float], None] | None = None, batched: bool = True,
                 interval: float = 0.0, suppress_ids=()):
        self.model = model.eval()
        self.suppress_ids = list(suppress_ids)  # never drawn: <pad>, <unk> ... (as textgen's)
        self.interval = interval
        self.max_streams = max_streams
        self.batched = batched
        self._on_tick = on_tick
        self._batch = _Batch(self.model, self.suppress_ids)
        self._open: set[StreamHandle] = set()  # event loop side
        self._incoming: deque[StreamHandle] = deque()  # submitted, not yet seen by the thread
        self._queued: list[StreamHandle] = []  # step thread side: waiting to join
        self._signal = threading.Event()  # wakes the idle step thread
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._stopped = False

    @property
    def open_streams(self) -> int:
        """Streams submitted and not yet finished (running or waiting for the next tick)."""
        return len(self._open)

    @property
    def batch_size(self) -> int:
        return len(self._batch.streams)

    @property
    def model_cpu_seconds(self) -> float:
        """CPU seconds the step thread has spent in the model (prompts and steps) and the
        draw: the recurrent steps' own work, apart from the server's around them."""
        return self._batch.model_cpu

    def submit(self, prompt: list[int], settings: GenerationSettings,
               timeout: float | None = None) -> StreamHandle:
        """Open a stream; read it with ``await handle.take()``. Raises ``Busy`` when full."""
        if self._closing:
            raise Busy("the server is shutting down")
        if len(self._open) >= self.max_streams:
            raise Busy(f"all {self.max_streams} streams are busy")
        deadline = None if timeout is None else time.monotonic() + timeout
        handle = StreamHandle(list(prompt), settings, deadline)
        self._open.add(handle)
        self._loop = asyncio.get_running_loop()
        self._incoming.append(handle)
        if self._thread is None:
            self._thread = threading.Thread(target=self._steps, name="rnnkit-step", daemon=True)
            self._thread.start()
        self._signal.set()
        return handle

    def stop_admitting(self) -> None:
        """New streams get ``Busy``; open ones carry on."""
        self._closing = True

    def close_all(self, reason: str = "shutdown") -> None:
        """Stop admitting streams and end every open one at the next tick (graceful exit)."""
        self._closing = True
        for s in list(self._open):
            s.cancel(reason)

    async def aclose(self) -> None:
        """End every stream, then the step thread (at most 5 s)."""
        self.close_all()
        self._stopped = True
        self._signal.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)

    # ------------------------------------------------------------------ step thread side
    def _joining(self) -> list[StreamHandle]:
        while self._incoming:
            self._queued.append(self._incoming.popleft())
        if self.batched:
            joining, self._queued = self._queued, []
            return joining
        # one at a time: the next waiting stream starts only when the batch is empty;
        # cancelled waiting streams leave now
        now = time.monotonic()
        gone = [s for s in self._queued if s.stop_reason(now) is not None]
        self._queued = [s for s in self._queued if s.stop is None]
        if not self._batch.streams and self._queued:
            return gone + [self._queued.pop(0)]
        return gone

    def _steps(self) -> None:
        """The step thread: ticks back to back while streams are open, then sleeps."""
        ticks: list[tuple[int, float]] = []  # (tokens, seconds) of ticks not yet reported
        while True:
            joining = self._joining()
            if not joining and not self._batch.streams:
                if self._stopped:
                    return
                self._signal.wait()
                self._signal.clear()
                continue
            start = time.perf_counter()
            try:
                tokens = self._batch.tick(joining)
            except Exception as e:  # noqa: BLE001 - a failed step ends its streams, not the thread
                streams = self._batch.streams + [s for s in joining
                                                 if s not in self._batch.streams]
                finished = self._batch.finished  # (ended before the failure: ended as such)
                spent, self._batch = self._batch.model_cpu, _Batch(self.model, self.suppress_ids)
                self._batch.model_cpu = spent
                streams = [s for s in streams if s not in {f for f, _ in finished}]
                if finished:
                    self._post(self._deliver, finished, [], [])
                self._post(self._fail, streams, e)
                continue
            seconds = time.perf_counter() - start
            ticks.append((tokens, seconds))
            finished, self._batch.finished = self._batch.finished, []
            now = time.monotonic()
            due = []
            for s in self._batch.streams:  # readers waiting whose interval has passed
                if s._waiter is not None and s.pending and now >= s.next_wake:
                    s.next_wake = now + self.interval
                    due.append(s)
            if finished or due or len(ticks) >= 256:  # (the ticks are reported by then)
                self._post(self._deliver, finished, due, ticks)
                ticks = []

    def _post(self, fn, *args) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the event loop is closed: nobody is reading any more
            pass

    # ------------------------------------------------------------------ event loop side
    def _deliver(self, finished: list[tuple[StreamHandle, str]], due: list[StreamHandle],
                 ticks: list[tuple[int, float]]) -> None:
        """End the finished streams, wake the due readers, report the ticks since the last
        call (their tokens are in the streams' ``pending`` already)."""
        for s, finish in finished:
            self._open.discard(s)
            s.end(finish)
        for s in due:
            s.wake()
        if self._on_tick is not None:
            for tokens, seconds in ticks:
                self._on_tick(tokens, seconds)

    def _fail(self, streams: list[StreamHandle], error: Exception) -> None:
        for s in streams:
            s.finish_reason = "error"
            self._open.discard(s)
            s.end(f"error: {type(error).__name__}: {error}")
