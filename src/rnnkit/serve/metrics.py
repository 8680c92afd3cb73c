"""A small Prometheus text exposition (format 0.0.4), written by hand: no extra dependency.

Counters and histograms keyed by label tuples; gauges read live from the schedulers when
``/metrics`` is asked for.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict, deque

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class _Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = defaultdict(lambda: [0] * (len(buckets) + 1))
        self.sums = defaultdict(float)

    def observe(self, labels: tuple, value: float) -> None:
        self.counts[labels][bisect.bisect_left(self.buckets, value)] += 1
        self.sums[labels] += value

    def lines(self, name: str, label_names: tuple) -> list[str]:
        out = []
        for labels, counts in sorted(self.counts.items()):
            base = _labels(label_names, labels)
            cum = 0
            for le, c in zip((*self.buckets, "+Inf"), counts, strict=True):
                cum += c
                le_text = le if isinstance(le, str) else repr(float(le))
                out.append(f'{name}_bucket{_labels((*label_names, "le"), (*labels, le_text))} '
                           f"{cum}")
            out.append(f"{name}_sum{base} {self.sums[labels]:.6f}")
            out.append(f"{name}_count{base} {cum}")
        return out


def _escape(v) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple, values: tuple) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)) + "}"


class Metrics:
    """Requests, latencies, tokens and streams; ``text(gauges)`` renders them."""

    def __init__(self, window_s: float = 10.0):
        self.started = time.time()
        self.requests = defaultdict(int)  # (endpoint, status) -> n
        self.latency = _Histogram(LATENCY_BUCKETS)  # by endpoint
        self.token_gap = _Histogram(GAP_BUCKETS)  # by model: time between a stream's sends
        self.step = _Histogram(STEP_BUCKETS)  # by model: one batched tick
        self.tokens = defaultdict(int)  # model -> n
        self.rejected = defaultdict(int)  # reason -> n
        self._recent = defaultdict(deque)  # model -> (time, tokens) for tokens/s
        self.window_s = window_s

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, str(status))] += 1
        self.latency.observe((endpoint,), seconds)

    def tick(self, model: str, tokens: int, seconds: float) -> None:
        self.tokens[model] += tokens
        self.step.observe((model,), seconds)
        now = time.monotonic()
        recent = self._recent[model]
        recent.append((now, tokens))
        while recent and recent[0][0] < now - self.window_s:
            recent.popleft()

    def tokens_per_second(self, model: str) -> float:
        recent = self._recent.get(model)
        if not recent:
            return 0.0
        now = time.monotonic()
        while recent and recent[0][0] < now - self.window_s:
            recent.popleft()
        return sum(n for _, n in recent) / self.window_s

    def text(self, active_streams: dict[str, int], batch_sizes: dict[str, int],
             model_cpu: dict[str, float] | None = None) -> str:
        lines = [
            "# HELP rnnkit_requests_total HTTP requests answered, by endpoint and status.",
            "# TYPE rnnkit_requests_total counter"]
        lines += [f"rnnkit_requests_total{_labels(('endpoint', 'status'), k)} {v}"
                  for k, v in sorted(self.requests.items())]
        lines += ["# HELP rnnkit_request_seconds Time to answer a request (a stream: until "
                  "its last event).", "# TYPE rnnkit_request_seconds histogram"]
        lines += self.latency.lines("rnnkit_request_seconds", ("endpoint",))
        lines += ["# HELP rnnkit_token_interval_seconds Time between consecutive sends of "
                  "tokens to a stream (tokens drawn together go in one send).",
                  "# TYPE rnnkit_token_interval_seconds histogram"]
        lines += self.token_gap.lines("rnnkit_token_interval_seconds", ("model",))
        lines += ["# HELP rnnkit_step_seconds One batched recurrent step (all open streams).",
                  "# TYPE rnnkit_step_seconds histogram"]
        lines += self.step.lines("rnnkit_step_seconds", ("model",))
        lines += ["# HELP rnnkit_tokens_total Tokens generated.",
                  "# TYPE rnnkit_tokens_total counter"]
        lines += [f"rnnkit_tokens_total{_labels(('model',), (m,))} {n}"
                  for m, n in sorted(self.tokens.items())]
        lines += [f"# HELP rnnkit_tokens_per_second Tokens generated per second over the last "
                  f"{self.window_s:g} s.", "# TYPE rnnkit_tokens_per_second gauge"]
        lines += [f"rnnkit_tokens_per_second{_labels(('model',), (m,))} "
                  f"{self.tokens_per_second(m):.3f}" for m in sorted(active_streams)]
        lines += ["# HELP rnnkit_active_streams Open generation streams.",
                  "# TYPE rnnkit_active_streams gauge"]
        lines += [f"rnnkit_active_streams{_labels(('model',), (m,))} {n}"
                  for m, n in sorted(active_streams.items())]
        lines += ["# HELP rnnkit_batch_size Streams in the last batched step.",
                  "# TYPE rnnkit_batch_size gauge"]
        lines += [f"rnnkit_batch_size{_labels(('model',), (m,))} {n}"
                  for m, n in sorted(batch_sizes.items())]
        lines += ["# HELP rnnkit_model_cpu_seconds_total CPU seconds in the model (prompts and "
                  "batched steps) and the draw; the server's other CPU is its overhead.",
                  "# TYPE rnnkit_model_cpu_seconds_total counter"]
        lines += [f"rnnkit_model_cpu_seconds_total{_labels(('model',), (m,))} {s:.6f}"
                  for m, s in sorted((model_cpu or {}).items())]
        lines += ["# HELP rnnkit_rejected_total Requests refused, by reason.",
                  "# TYPE rnnkit_rejected_total counter"]
        lines += [f"rnnkit_rejected_total{_labels(('reason',), (r,))} {n}"
                  for r, n in sorted(self.rejected.items())]
        lines += ["# HELP rnnkit_uptime_seconds Seconds since the server started.",
                  "# TYPE rnnkit_uptime_seconds gauge",
                  f"rnnkit_uptime_seconds {time.time() - self.started:.1f}"]
        return "\n".join(lines) + "\n"
