"""``rnnkit serve``: trained models over HTTP, with token streaming and a page to try them.

- ``tasks.load_models(paths)``: checkpoint folders -> ``{name: ServedModel}`` (through
  ``rnnkit.open``, never unpickling).
- ``app.create_app(models, ServeSettings(...))``: the FastAPI application (endpoints, limits,
  API key, metrics, the page at ``/``).
- ``scheduler.BatchScheduler``: continuous batching, one recurrent step for every open
  stream of a language model per tick.
- ``server.run(models, settings, host=, port=)``: uvicorn with a graceful SIGTERM.

Needs the ``serve`` extra (``pip install 'rnnkit[serve]'``); the names below are imported on
first use, so ``rnnkit.serve.settings`` works without it.
"""

from __future__ import annotations

import importlib

__all__ = ["ServeSettings", "create_app", "BatchScheduler", "GenerationSettings",
           "ServedModel", "load_models"]

_WHERE = {"ServeSettings": "settings", "create_app": "app", "BatchScheduler": "scheduler",
          "GenerationSettings": "scheduler", "ServedModel": "tasks", "load_models": "tasks"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
