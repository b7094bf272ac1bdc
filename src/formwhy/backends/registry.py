"""Backend registry: ``--backend NAME`` on the command line goes through :func:`load_backend`.

A backend is registered with a loader ``loader(model_path: Path | None, **options) -> Backend`` (import heavy
dependencies inside the loader, not at module import) and an optional default model path. ``options`` are the
backend's own settings (for ``openai``: ``base_url``, ``model``; for ``workers-ai``: ``model``, ``lora``), given by
``formwhy serve``'s backend config or the command line; a loader that takes none rejects any. To add one::

    from formwhy.backends.registry import register_backend

    def _load_mine(model_path, **options):
        from mypackage import MyBackend
        return MyBackend.load(model_path, **options)

    register_backend("mine", _load_mine, default_model=Path("models/mine"), help="what it is")

Built-in registrations live in :func:`_builtin` at the bottom of this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from formwhy.backends.base import Backend, BackendError

Loader = Callable[..., Backend]  # (model_path: Path | None, **options) -> Backend


class UnknownBackendError(BackendError):
    """``--backend`` named something that is not registered."""

    def __init__(self, name: str) -> None:
        known = ", ".join(backend_names()) or "(none)"
        super().__init__(name, f"unknown backend {name!r}; available: {known}")


@dataclass(frozen=True)
class BackendSpec:
    name: str
    loader: Loader
    default_model: Path | None = None
    help: str = ""


_REGISTRY: dict[str, BackendSpec] = {}


def register_backend(name: str, loader: Loader, *, default_model: Path | str | None = None, help: str = "",
                     replace: bool = False) -> BackendSpec:
    """Make ``name`` available to :func:`load_backend`. Registering a taken name needs ``replace=True``."""
    if not name or not name.replace("-", "_").isidentifier():
        raise ValueError(f"backend name {name!r} must be a short identifier")
    if name in _REGISTRY and not replace:
        raise ValueError(f"backend {name!r} is already registered")
    spec = BackendSpec(name, loader, Path(default_model) if default_model is not None else None, help)
    _REGISTRY[name] = spec
    return spec


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> BackendSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBackendError(name) from None


def resolve_model_path(name: str, model_path: Path | str | None) -> Path | None:
    """``model_path`` when given, else the backend's default (which may be None)."""
    if model_path is not None:
        return Path(model_path)
    return get_spec(name).default_model


def load_backend(name: str, model_path: Path | str | None = None, **options: object) -> Backend:
    """Load the backend ``name`` with ``model_path`` (or its default model) and its ``options``.

    Raises :class:`UnknownBackendError` for a name that is not registered and :class:`BackendError` (with a message
    that says what to do) when the model cannot be loaded.
    """
    spec = get_spec(name)
    return spec.loader(resolve_model_path(name, model_path), **options)


def no_options(name: str, options: dict[str, object]) -> None:
    """For loaders that take no options: a clear error naming the ones given."""
    if options:
        raise BackendError(name, f"backend {name!r} takes no options, got: {', '.join(sorted(options))}")


def _load_features(model_path: Path | None, **options: object) -> Backend:
    from formwhy.backends.features import load

    no_options("features", options)
    return load(model_path)


def _load_llm(model_path: Path | None, **options: object) -> Backend:
    from formwhy.backends.llm_local import LocalLLM

    options = _known("llm", options, LocalLLM.OPTIONS)
    if model_path is None or not (Path(model_path) / "formwhy.json").exists():
        raise BackendError("llm", f"{model_path}: no formwhy adapter here (train one with `formwhy train llm`)")
    return LocalLLM.from_adapter(model_path, format_health=True, **options)  # type: ignore[arg-type]


def _builtin() -> None:
    register_backend("features", _load_features, default_model=Path("models/features"),
                     help="hand-made trace features + gradient boosting (formwhy train features)")
    register_backend("llm", _load_llm, default_model=Path("adapters/gemma3-270m-formwhy"),
                     help="the fine-tuned LLM's first-token digit probabilities (formwhy train llm)")
    register_backend("openai", _load_openai, default_model=Path("adapters/gemma3-270m-formwhy"),
                     help="a vLLM / llama.cpp server's /v1/completions logprobs (--base-url, --model-name; "
                          "--model: the local adapter dir for its manifest and calibration)")
    register_backend("workers-ai", _load_workers_ai, default_model=Path("adapters/gemma3-270m-formwhy"),
                     help="Cloudflare Workers AI with a LoRA (verbalized confidence only; CLOUDFLARE_API_TOKEN, "
                          "CLOUDFLARE_ACCOUNT_ID, FORMWHY_WORKERS_AI_MODEL, FORMWHY_WORKERS_AI_LORA)")


def _load_openai(model_path: Path | None, **options: object) -> Backend:
    from formwhy.backends.openai_compat import OpenAICompat

    return OpenAICompat.from_env(model_path, **_known("openai", options, OpenAICompat.OPTIONS))


def _load_workers_ai(model_path: Path | None, **options: object) -> Backend:
    from formwhy.backends.workers_ai import WorkersAI

    return WorkersAI.from_env(model_path, **_known("workers-ai", options, WorkersAI.OPTIONS))


def _known(name: str, options: dict[str, object], allowed: tuple[str, ...]) -> dict[str, object]:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise BackendError(name, f"unknown option(s) for backend {name!r}: {', '.join(unknown)}; "
                                 f"allowed: {', '.join(allowed)}")
    return options


_builtin()
