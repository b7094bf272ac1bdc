"""Backends: anything that turns traces into the six raw class probabilities (see ``base.Backend``).

:func:`load_backend` picks one by name (``--backend``); :func:`register_backend` adds one (see ``registry``).
"""

from formwhy.backends.base import Backend, BackendError, Prediction
from formwhy.backends.registry import (
    UnknownBackendError,
    backend_names,
    load_backend,
    register_backend,
    resolve_model_path,
)

__all__ = [
    "Backend",
    "BackendError",
    "Prediction",
    "UnknownBackendError",
    "backend_names",
    "load_backend",
    "register_backend",
    "resolve_model_path",
]
