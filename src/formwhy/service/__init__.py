"""The formwhy HTTP service: ``create_app(config)`` builds the FastAPI application (see ``docs/service.md``)."""

from formwhy.service.app import create_app
from formwhy.service.config import BackendConfig, RoutingPolicy, ServiceConfig, load_config

__all__ = ["BackendConfig", "RoutingPolicy", "ServiceConfig", "create_app", "load_config"]
