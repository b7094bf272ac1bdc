"""Service configuration: defaults in code, optionally overridden by a JSON or TOML file and the environment.

The routing policy is documented in ``docs/routing.md``; the file format in ``docs/service.md``. Example (TOML)::

    auth_disabled = false
    max_body_bytes = 1000000

    [routing]
    confident_threshold = 0.85
    abstain_threshold = 0.6

    [[backends]]
    name = "features"
    timeout_s = 2.0

    [[backends]]
    name = "llm"
    model = "adapters/gemma3-270m-formwhy"
    timeout_s = 10.0
    min_budget_ms = 1500

The API key is read from ``FORMWHY_API_KEY`` (the environment wins over the file). It is never logged.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

API_KEY_ENV = "FORMWHY_API_KEY"
TOKEN_SECRET_ENV = "FORMWHY_TOKEN_SECRET"


class BackendConfig(BaseModel):
    """One backend in the routing order."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="a registered backend name (formwhy.backends.registry), e.g. features, llm")
    model: str | None = Field(None, description="model path; the backend's default when left out")
    timeout_s: float = Field(2.0, gt=0, le=600, description="per call; on timeout the router falls back")
    min_budget_ms: int = Field(0, ge=0, description="escalate to this backend only when the request's latency "
                                                    "budget leaves at least this much")
    calibration: Literal["temperature", "vector"] = "temperature"
    options: dict[str, str | int | float] = Field(
        default_factory=dict, description="the backend's own settings, e.g. openai: base_url, model; workers-ai: "
                                          "model, lora (secrets stay in the environment)")


class RoutingPolicy(BaseModel):
    """When to answer from the fast path, when to escalate, when to abstain (docs/routing.md)."""

    model_config = ConfigDict(extra="forbid")

    confident_threshold: float = Field(0.85, ge=0, le=1, description="answer from a backend when its calibrated "
                                                                     "top probability is at least this")
    abstain_threshold: float = Field(0.6, ge=0, le=1, description="abstain when the final prediction set holds "
                                                                  "more than one class and the top probability "
                                                                  "is below this")
    default_latency_budget_ms: int | None = Field(None, ge=1, description="budget used when a request gives none "
                                                                          "(None: unlimited)")


def default_backends() -> list[BackendConfig]:
    return [
        BackendConfig(name="features", timeout_s=2.0),
        BackendConfig(name="llm", timeout_s=15.0, min_budget_ms=1500),
    ]


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr | None = None
    auth_disabled: bool = False
    token_secret: SecretStr | None = Field(None, description="HMAC key for per-page session tokens (beacons); "
                                                             "random per process when not set")
    token_ttl_s: int = Field(1800, ge=10, le=86400)
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_batch: int = Field(100, ge=1, le=10_000)
    backends: list[BackendConfig] = Field(default_factory=default_backends, min_length=1)
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    demo: bool = True
    cors_origins: list[str] = Field(default_factory=list, description="origins whose pages may call the API with "
                                                                      "fetch (the snippet on another site)")
    workers: int = Field(default_factory=lambda: min(8, os.cpu_count() or 2), ge=1, le=256,
                         description="threads for blocking backend calls (default: CPUs, at most 8)")

    @model_validator(mode="after")
    def _unique_backends(self) -> ServiceConfig:
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must be unique: {names}")
        return self

    def secret(self) -> bytes:
        if self.token_secret is None:
            self.token_secret = SecretStr(secrets.token_hex(32))
        return self.token_secret.get_secret_value().encode()


def load_config(path: Path | str | None = None, *, env: dict[str, str] | None = None,
                **overrides: object) -> ServiceConfig:
    """Defaults, then the file (``.json`` or ``.toml``), then the environment, then ``overrides``."""
    env = dict(os.environ) if env is None else env
    data: dict[str, object] = {}
    if path is not None:
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{p}: the config must be an object")
    if env.get(API_KEY_ENV):
        data["api_key"] = env[API_KEY_ENV]
    if env.get(TOKEN_SECRET_ENV):
        data["token_secret"] = env[TOKEN_SECRET_ENV]
    data.update({k: v for k, v in overrides.items() if v is not None})
    return ServiceConfig.model_validate(data)
