"""Moved to ``rnnkit.apps.translate`` (the application shape); these names stay importable."""

from .apps.translate import (  # noqa: F401
    Config,
    TranslatePredictor,
    TranslationConfig,
    build_model,
    build_tokenizers,
    load,
    train,
)
