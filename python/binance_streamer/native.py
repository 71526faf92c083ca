"""The one place that chooses between the Rust extension and the pure-Python fallback.

Both backends export the same names (see ``_native.pyi``); callers do
``backend = native.load(preference)`` once and use ``backend.OrderBook`` etc.

Precedence: an explicit preference (``--backend``) > the environment variable
``BINANCE_STREAMER_BACKEND`` > ``performance.backend`` in the config > ``auto``.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType
from typing import Optional

ENV_VAR = "BINANCE_STREAMER_BACKEND"
CHOICES = ("auto", "native", "python")

_log = logging.getLogger(__name__)
_warned = False


class BackendError(RuntimeError):
    """The requested backend cannot be used (one-line message for the user)."""


def native_import_error() -> Optional[str]:
    """None when the extension imports, else the one-line reason it does not."""
    try:
        importlib.import_module("binance_streamer._native")
    except ImportError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def resolve(preference: Optional[str] = None, config_value: str = "auto") -> str:
    """The backend name asked for, after applying the precedence rules."""
    for source, value in (
        ("--backend", preference),
        (ENV_VAR, os.environ.get(ENV_VAR) or None),
        ("performance.backend", config_value),
    ):
        if value is None:
            continue
        value = value.strip().lower()
        if value not in CHOICES:
            raise BackendError(f"{source}: unknown backend {value!r} (expected one of {', '.join(CHOICES)})")
        return value
    return "auto"


def load(preference: Optional[str] = None, config_value: str = "auto") -> ModuleType:
    """Return the backend module (``binance_streamer._native`` or ``binance_streamer.fallback``)."""
    global _warned
    choice = resolve(preference, config_value)
    if choice == "python":
        return importlib.import_module("binance_streamer.fallback")
    try:
        return importlib.import_module("binance_streamer._native")
    except ImportError as exc:
        if choice == "native":
            raise BackendError(
                f"backend 'native' requested but the extension cannot be imported: {exc}"
            ) from exc
        if not _warned:
            _log.warning("native extension unavailable (%s); using the pure-Python fallback", exc)
            _warned = True
        return importlib.import_module("binance_streamer.fallback")


def name_of(module: ModuleType) -> str:
    """'native' or 'python' for a module returned by :func:`load`."""
    return "native" if module.__name__.endswith("._native") else "python"
