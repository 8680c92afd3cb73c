"""Run the application on uvicorn, with a graceful exit on SIGTERM / Ctrl-C.

On the first SIGTERM (or SIGINT) the server stops accepting connections and generations,
lets the open streams run for ``shutdown_grace`` seconds, then ends the rest with
``finish_reason: "shutdown"`` (each client gets its ``done`` event) and exits 0.
"""

from __future__ import annotations

import gc
import signal
import socket

import uvicorn

from .app import ServeSettings, create_app
from .tasks import ServedModel

__all__ = ["run", "bind", "BackgroundServer"]


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app):
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig, frame) -> None:
        loop = getattr(self._app.state, "loop", None)
        if loop is not None and not self.should_exit:
            loop.call_soon_threadsafe(self._app.state.drain)
        super().handle_exit(sig, frame)


def bind(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A socket bound to ``host:port`` (IPv4 or IPv6), before anything is announced: a port
    in use or an address not here is one ``OSError`` line (``cannot listen on ...``), not
    uvicorn's log and exit status 3."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as e:
        raise OSError(f"cannot listen on {host}:{port}: {getattr(e, 'strerror', None) or e}"
                      ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def run(models: dict[str, ServedModel], settings: ServeSettings, *, host: str = "127.0.0.1",
        port: int = 8000, log_level: str = "info", sock: socket.socket | None = None) -> int:
    """Serve ``models`` until SIGTERM/SIGINT; returns the exit status (0). ``sock``: one from
    ``bind(host, port)`` (bound here when not given)."""
    sock = sock if sock is not None else bind(host, port)
    app = create_app(models, settings)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
                            access_log=log_level == "debug", lifespan="on")
    server = _Server(config, app)
    # the loaded models and imports are long-lived: out of the collector's sight, a full
    # collection under load walks only the requests' objects (shorter pauses between tokens)
    gc.collect()
    gc.freeze()
    # uvicorn re-raises the signal after its graceful exit, under the handlers found at
    # start: make those no-ops so a handled SIGTERM ends with status 0, not 143
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if server.started else 1


class BackgroundServer:
    """The app on uvicorn in a thread of this process, on a free loopback port (tests,
    benchmarks, notebooks). ``with BackgroundServer(app) as url: ...`` stops it on exit."""

    def __init__(self, app, host: str = "127.0.0.1", timeout: float = 60.0):
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.url = f"http://{host}:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name="rnnkit-serve")
        self.timeout = timeout

    def start(self) -> str:
        import time

        self.thread.start()
        end = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("rnnkit serve: the background server did not start")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)
        self.sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
