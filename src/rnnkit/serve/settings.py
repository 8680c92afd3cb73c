"""The server's limits and options: one dataclass, from which ``rnnkit serve`` builds its flags.

Kept free of web imports so the CLI can list its flags without FastAPI installed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..validate import non_negative_float, positive_float, positive_int

__all__ = ["ServeSettings", "MAX_TOKENS_CEILING"]

MAX_TOKENS_CEILING = 100_000  # the request schema's bound on max_tokens


@dataclass
class ServeSettings:
    """The server's limits and options (``rnnkit serve`` flags)."""

    api_key: str | None = None  # Bearer token required on every path but /health and the page
    max_body_bytes: int = 2 * 1024 * 1024  # larger request bodies get 413
    max_tokens: int = 2000  # new tokens per generate request at most
    max_streams: int = 256  # open generations (per model) and predictions at once; then 429
    request_timeout: float = 120.0  # seconds per request (a stream ends with "timeout")
    shutdown_grace: float = 5.0  # on SIGTERM, open streams may finish for this long
    batched: bool = True  # one step per tick for all open streams (no: one stream at a time)
    predict_threads: int = 2  # worker threads for predictions
    stream_interval: float = 0.035  # s between two sends to a stream at least (0: every step)
    # the tokens drawn in between go out in one write, each still its own SSE event: ~29
    # updates a second read smoothly, and a send (~45 us of event loop) is the server's main
    # cost; at 64 clients 0.02 cost 0.28 of the model's CPU, 0.035 0.19 (BENCHMARKS.md)

    def check(self) -> None:
        """Raise ``ValueError`` naming the first setting out of range."""
        for name in ("max_body_bytes", "max_tokens", "max_streams", "predict_threads"):
            positive_int(name.replace("_", "-"), getattr(self, name))
        for name in ("request_timeout", "shutdown_grace"):
            positive_float(name.replace("_", "-"), getattr(self, name))
        non_negative_float("stream-interval", self.stream_interval)
        if self.max_tokens > MAX_TOKENS_CEILING:
            raise ValueError(f"max-tokens must be at most {MAX_TOKENS_CEILING}, got "
                             f"{self.max_tokens}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api-key must not be empty")
