"""Trained applications, all of one shape: ``Config`` -> ``train`` -> ``load`` -> ``Predictor``.

See ``base.py`` for the shape and docs/CONVENTIONS.md for adding an application.
"""

from .base import Predictor, open, register_app, registered_apps, task_of

__all__ = ["Predictor", "open", "register_app", "registered_apps", "task_of"]
