"""The shape every trained application shares, and ``rnnkit.open`` that finds the right one.

An application (``rnnkit.apps.regress``, ``.textgen``, ``.forecast``, ``.classify``,
``.translate``, ``.anomaly``) is a module or package with the same parts under the same names:

- ``Config``: a dataclass, one typed field per setting with a comment saying what it does, and
  ``check()`` raising ``ValueError`` naming the field and what it received. The CLI builds
  its flags from it (``rnnkit.cli.config_flags``), so defaults live there only.
- ``train(config, ...) -> History``: reads data, builds the model, calls ``fit`` and writes one
  checkpoint folder whose ``extras["task"]`` is the application's ``TASK``.
- ``load(path, device="cpu") -> Predictor``: a ``Predictor`` subclass (below).

Each application registers its loader with ``register_app(TASK, load)`` at import time;
``rnnkit.open(path)`` reads the task tag from the checkpoint and calls that loader.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointError, load_extras

__all__ = ["Predictor", "register_app", "registered_apps", "open", "task_of", "TASK_KEY",
           "APP_MODULES", "load_checkpoint"]

TASK_KEY = "task"  # extras[TASK_KEY] names the application that wrote a checkpoint

# task tag -> the module that registers it (imported on first use, so ``open`` needs no
# import from its caller and a checkpoint never chooses which code is imported)
APP_MODULES = {
    "regress": "rnnkit.apps.regress",
    "textgen": "rnnkit.apps.textgen",
    "forecast": "rnnkit.apps.forecast",
    "classify": "rnnkit.apps.classify",
    "translate": "rnnkit.apps.translate",
    "anomaly": "rnnkit.apps.anomaly",
}

_LOADERS: dict[str, Callable[..., Predictor]] = {}


class Predictor:
    """A trained application's model with everything around it, ready to use.

    Attributes:
        task: the application's tag (``"textgen"``, ``"forecast"``, ...).
        config: the application's ``Config`` the model was trained with.
        model: the ``nn.Module`` (eval mode).
        path: the checkpoint folder it came from (``None`` if built in memory).
    """

    task: str = ""

    def __init__(self, model, config, path: str | os.PathLike | None = None):
        self.model, self.config = model, config
        self.path = None if path is None else Path(path)

    def predict(self, *args, **kwargs) -> Any:
        """Outputs for a batch of inputs (what an input is depends on the application)."""
        raise NotImplementedError(f"{type(self).__name__}.predict")

    def stream(self, *args, **kwargs) -> Iterator[Any]:
        """Outputs one step at a time, carrying the recurrent state (unidirectional models)."""
        raise NotImplementedError(f"{self.task or type(self).__name__}: this model does not "
                                  "stream (it is bidirectional or sees whole inputs)")

    def evaluate(self, *args, **kwargs) -> dict[str, float]:
        """Metrics on labelled data."""
        raise NotImplementedError(f"{type(self).__name__}.evaluate")

    @property
    def can_stream(self) -> bool:
        return type(self).stream is not Predictor.stream

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: task, model class, config (for ``rnnkit info`` and serving)."""
        from dataclasses import asdict, is_dataclass

        config = asdict(self.config) if is_dataclass(self.config) else self.config
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"task": self.task, "model_class": type(self.model).__name__,
                "parameters": n_params, "streams": self.can_stream, "config": config}


def load_checkpoint(path: str | os.PathLike, model_class: type, device: str = "cpu", *,
                    app: str, accepts: Callable[[dict], bool] = lambda extras: True,
                    refused: str = ""):
    """``(model in eval mode, extras)`` of the checkpoint folder ``path`` written by ``rnnkit
    APP train``; ``ValueError`` when it is missing, its extras fail ``accepts`` (the message:
    ``refused``) or its model is not a ``model_class``."""
    from ..checkpoint import load
    from ..runtime import resolve_device

    path = Path(path)
    if not path.exists():
        raise ValueError(f"no checkpoint at {str(path)!r} (train one with rnnkit {app} train)")
    extras = load_extras(path)
    other = extras.get(TASK_KEY)
    if not accepts(extras) and isinstance(other, str) and other and other != app:
        raise ValueError(f"checkpoint {str(path)!r} was written by rnnkit {other} train; use "
                         f"it with rnnkit {other} (this verb reads rnnkit {app} train's)")
    if not accepts(extras):
        raise ValueError(f"checkpoint {str(path)!r} {refused or 'was not written by rnnkit '}"
                         + ("" if refused else f"{app} train"))
    model = load(path, device=str(resolve_device(device)))
    if not isinstance(model, model_class):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(model).__name__}, not a "
                         f"{model_class.__name__}")
    return model.eval(), extras


def register_app(task: str, loader: Callable[..., Predictor]) -> None:
    """Make ``rnnkit.open`` call ``loader(path, device=...)`` for checkpoints tagged ``task``."""
    _LOADERS[task] = loader


def registered_apps() -> dict[str, Callable[..., Predictor]]:
    return dict(_LOADERS)


def _legacy_task(extras: dict) -> str | None:
    """The task of a checkpoint written by rnnkit 0.1.0, which tagged each one differently."""
    if "tokenizer" in extras and "src_tokenizer" not in extras:
        return "textgen"
    if "forecast" in extras:
        return "forecast"
    if "classify" in extras or "preprocessing" in extras:
        return "classify"
    if {"mode", "target"} <= set(extras):
        return "regress"
    return None


def task_of(path: str | os.PathLike) -> str:
    """The application tag of the checkpoint folder ``path``."""
    extras = load_extras(path)
    task = extras.get(TASK_KEY)
    if task is None:
        task = _legacy_task(extras)
    if not isinstance(task, str) or not task:
        raise CheckpointError(f"rnnkit.open: {path} was not written by an rnnkit application "
                              "(its extras name no task); load the bare model with rnnkit.load")
    return task


def check_task_folder(path: str | os.PathLike, task: str, name: str = "--checkpoint") -> None:
    """Refuse, before any work, to train ``task`` into a folder that holds another
    application's model or a bare one (``rnnkit.save``, ``import-keras``): training would
    replace it. The same application's model (a retrain, ``--resume``) is allowed, and so is
    a folder whose ``config.json`` cannot be read (nothing there to lose)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        return
    try:
        extras = load_extras(path)
    except (CheckpointError, OSError, ValueError):
        return
    other = extras.get(TASK_KEY) or _legacy_task(extras)
    if other != task:
        held = (f"an rnnkit {other} model" if isinstance(other, str) and other else
                "a bare model (rnnkit.save or rnnkit import-keras)")
        raise ValueError(f"{name} {path} holds {held}; training {task} there would replace "
                         "it: choose another folder, or remove that one first")


def open(path: str | os.PathLike, device: str = "cpu") -> Predictor:  # noqa: A001 - the API name
    """The ``Predictor`` for any application checkpoint folder ``path``."""
    task = task_of(path)
    if task not in _LOADERS and task in APP_MODULES:
        importlib.import_module(APP_MODULES[task])
    if task not in _LOADERS:
        known = ", ".join(sorted(set(APP_MODULES) | set(_LOADERS)))
        raise CheckpointError(f"rnnkit.open: {path} is tagged task {task!r}, which no "
                              f"application handles (known: {known})")
    return _LOADERS[task](path, device=device)
