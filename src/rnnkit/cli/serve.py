"""``rnnkit serve``: trained models over HTTP (FastAPI on uvicorn) and a page at ``/``.

Parse -> ``rnnkit.serve.load_models`` -> ``rnnkit.serve.server.run``.
"""

from __future__ import annotations

import os
import sys

from .common import DEFAULT_THREADS, examples, new_parser, threads_type
from .config_flags import add_config_flags, config_from_args

EXAMPLES = (
    "rnnkit serve --checkpoint rnnkit-demo/classify-model",
    "rnnkit serve --checkpoint runs/notes --checkpoint runs/sales --port 8080",
    "RNNKIT_API_KEY=secret rnnkit serve --checkpoint runs/reviews --host 0.0.0.0",
)


def register(subparsers) -> None:
    from ..serve.settings import ServeSettings

    p = new_parser(subparsers, "serve",
                   help="serve trained models over HTTP, with token streaming and a page",
                   description="Serve checkpoints over HTTP: /v1/models/NAME/predict, "
                               "/v1/models/NAME/generate (Server-Sent Events with "
                               '"stream": true), /v1/models, /health, /metrics, /docs and a '
                               "page at / to try every model. NAME is the checkpoint "
                               "folder's name.",
                   epilog=examples(*EXAMPLES))
    p.add_argument("--checkpoint", action="append", required=True, metavar="DIR",
                   help="a checkpoint folder written by an rnnkit application (repeat for more)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help="require 'Authorization: Bearer KEY' on every path but /health, the "
                        "page and the API's description (/docs, /openapi.json) (default: the "
                        "RNNKIT_API_KEY environment variable, if set)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument("--threads", type=threads_type, default=DEFAULT_THREADS, metavar="N",
                   help=f"CPU threads for torch (default {DEFAULT_THREADS}, as every verb: "
                        "the batched steps are small, and spare threads spin on busy cores)")
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    add_config_flags(p, ServeSettings, skip={"api_key"}, group="limits")
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from ..serve.server import bind
    from ..serve.server import run as serve
    from ..serve.settings import ServeSettings
    from ..serve.tasks import load_models

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must lie in [0, 65535], got {args.port}")
    torch.set_num_threads(args.threads)
    key = args.api_key if args.api_key is not None else os.environ.get("RNNKIT_API_KEY")
    settings = config_from_args(ServeSettings, args, api_key=key or None)
    settings.check()
    models = load_models(args.checkpoint, device=args.device)
    sock = bind(args.host, args.port)  # a port in use: one line, before the announcement
    if not args.quiet:
        names = ", ".join(f"{n} ({m.task})" for n, m in models.items())
        port = sock.getsockname()[1]  # --port 0: the one the system chose
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"rnnkit serve: {names} on http://{host}:{port}/"
              + (" (API key required)" if settings.api_key else ""), file=sys.stderr,
              flush=True)
    return serve(models, settings, host=args.host, port=args.port,
                 log_level="warning" if args.quiet else "info", sock=sock)
