"""The FastAPI application: ``create_app(config)``. See docs/service.md for the API and docs/routing.md for the
routing policy.

Privacy: request bodies and values are never logged. The one log line per request holds the route, the status,
the latency and the class (``formwhy.service`` logger). Run uvicorn with ``access_log=False`` (``formwhy serve``
does): its access log would print query strings, which hold beacon tokens.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from formwhy import __version__
from formwhy.backends.base import Backend
from formwhy.calibrator import Calibrator
from formwhy.service.config import BackendConfig, ServiceConfig
from formwhy.service.router import AllBackendsFailed, Router, Slot, load_slot
from formwhy.service.tokens import TokenError, TokenIssuer
from formwhy.taxonomy import NAMES
from formwhy.trace import MAX_EVENTS, Trace, TraceValidationError, parse_trace

log = logging.getLogger("formwhy.service")
STATIC_DIR = Path(__file__).parent / "static"
CLASSIFY_ROUTES = ("/v1/classify", "/v1/classify/batch", "/v1/tokens")
_MAX_RESULTS = 10_000


# --- response models (for the OpenAPI document) -------------------------------------------------------------


class Fallback(BaseModel):
    backend: str
    reason: str


class ClassifyResult(BaseModel):
    class_: str = Field(alias="class", description="the class machine name")
    digit: int
    probabilities: dict[str, float] = Field(description="calibrated probability per class name")
    confidence: float = Field(description="the top class's calibrated probability")
    calibrated: bool
    prediction_set: list[str] | None = Field(description="the conformal (APS, 90 %) prediction set, most probable "
                                                         "first; null when the backend has no calibration")
    abstained: bool = Field(description="true when the set holds several classes and the confidence is low")
    recovery_flow: str
    recovery: str
    backend: str = Field(description="the backend that answered")
    escalated: bool
    fallbacks: list[Fallback] = Field(description="backends that failed or were unavailable, and why")
    verbalized_confidence: float | None = None
    reasoning: str | None = None
    latency_ms: float


class BatchResult(BaseModel):
    results: list[ClassifyResult]
    latency_ms: float


class ErrorBody(BaseModel):
    detail: str
    errors: list[str] | None = None


class TokenBody(BaseModel):
    token: str
    session_id: str
    expires_at: int


def _request_schema(batch: bool) -> dict[str, Any]:
    trace_ref = {"$ref": "#/components/schemas/Trace"}
    wrapper: dict[str, Any] = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "boolean", "default": False},
            "latency_budget_ms": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": False,
    }
    if batch:
        wrapper["properties"]["traces"] = {"type": "array", "items": trace_ref, "minItems": 1}
        wrapper["required"] = ["traces"]
        schema = wrapper
    else:
        wrapper["properties"]["trace"] = trace_ref
        wrapper["required"] = ["trace"]
        schema = {"anyOf": [trace_ref, wrapper]}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_ERRORS = {
    401: {"model": ErrorBody, "description": "missing or wrong API key / session token"},
    413: {"model": ErrorBody, "description": "request body too large"},
    422: {"model": ErrorBody, "description": "invalid trace: one 'path: rule' line per problem"},
    503: {"model": ErrorBody, "description": "no backend could classify"},
}


class ApiError(Exception):
    def __init__(self, status: int, detail: str, errors: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers


# --- metrics ------------------------------------------------------------------------------------------------


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("formwhy_requests", "HTTP requests", ["route", "status", "backend"],
                                registry=self.registry)
        self.latency = Histogram("formwhy_request_latency_seconds", "request latency", ["route"],
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                          30),
                                 registry=self.registry)
        self.fallbacks = Counter("formwhy_fallbacks", "backend fallbacks", ["backend", "reason"],
                                 registry=self.registry)
        self.abstentions = Counter("formwhy_abstentions", "classifications that abstained", registry=self.registry)
        self.classes = Counter("formwhy_classifications", "classifications by class and backend",
                               ["class_name", "backend"], registry=self.registry)


# --- the app ------------------------------------------------------------------------------------------------


def create_app(config: ServiceConfig | None = None, *, backends: Mapping[str, Backend] | None = None) -> FastAPI:
    """Build the service. ``backends`` replaces the loading of the named backends with ready instances (tests,
    embedding); the others are loaded from the registry at startup. Raises ValueError when auth is on but no API
    key is configured."""
    config = config or ServiceConfig()
    if not config.auth_disabled and config.api_key is None:
        raise ValueError("no API key: set FORMWHY_API_KEY (or api_key in the config file), or disable auth "
                         "explicitly (--no-auth / auth_disabled: true)")
    metrics = Metrics()
    tokens = TokenIssuer(config.secret(), config.token_ttl_s)
    results: OrderedDict[str, dict[str, Any]] = OrderedDict()
    provided = dict(backends or {})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def one(cfg: BackendConfig) -> Slot:
            if cfg.name in provided:
                return Slot(cfg, backend=provided[cfg.name], calibrator=Calibrator())
            return await asyncio.to_thread(load_slot, cfg)  # side by side; a failure only marks it unavailable

        slots: list[Slot] = list(await asyncio.gather(*(one(cfg) for cfg in config.backends)))
        router = Router(slots, config.routing, workers=config.workers)
        router.on_fallback = lambda backend, reason: metrics.fallbacks.labels(backend, reason).inc()
        app.state.router = router
        for s in slots:
            if s.available:
                log.info("backend %s ready (%s, %.0f ms)", s.name, "calibrated" if s.calibrator.is_fitted
                         else "UNCALIBRATED", s.load_ms)
            else:
                log.warning("backend %s unavailable: %s", s.name, s.error)
        if config.auth_disabled:
            log.warning("!!! AUTHENTICATION IS DISABLED: anyone who can reach this port can classify traces !!!")
        try:
            yield
        finally:
            router.close()

    app = FastAPI(title="formwhy", version=__version__, lifespan=lifespan,
                  description="Why did this visitor abandon the form? See docs/service.md.")
    app.state.config = config
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Latency-Budget-Ms"], max_age=600)
    app.state.metrics = metrics
    app.state.tokens = tokens

    # -- cross-cutting: errors, metrics, the one log line -----------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.detail}
        if exc.errors is not None:
            body["errors"] = exc.errors
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Any) -> Response:
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            seconds = time.perf_counter() - t0
            route_obj = request.scope.get("route")
            route = getattr(route_obj, "path", None) or "(unmatched)"
            backend = getattr(request.state, "backend", "") or ""
            metrics.requests.labels(route, str(status), backend).inc()
            metrics.latency.labels(route).observe(seconds)
            if route.startswith("/v1/"):
                log.info("route=%s status=%d latency_ms=%.1f class=%s", route, status, seconds * 1000,
                         getattr(request.state, "class_name", "-"))

    # -- helpers ------------------------------------------------------------------------------------------------

    def authenticate(request: Request, *, allow_token: bool, token: str | None = None) -> str | None:
        """None for the API key (or auth disabled); the session id for a session token."""
        if config.auth_disabled:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, cred = header.partition(" ")
        cred = cred.strip()
        if scheme.lower() != "bearer" or not cred:
            cred = token or ""
        if not cred:
            raise ApiError(401, "missing credentials: send 'Authorization: Bearer <API key>'",
                           headers={"WWW-Authenticate": "Bearer"})
        assert config.api_key is not None
        if hmac.compare_digest(cred.encode(), config.api_key.get_secret_value().encode()):
            return None
        if allow_token and "." in cred:
            try:
                sid = tokens.verify(cred)
                tokens.spend(sid)
                return sid
            except TokenError as exc:
                raise ApiError(401, f"invalid session token: {exc}", headers={"WWW-Authenticate": "Bearer"}) \
                    from None
        raise ApiError(401, "wrong API key", headers={"WWW-Authenticate": "Bearer"})

    async def read_json(request: Request) -> Any:
        limit = config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"request body is larger than {limit} bytes")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(422, "request body is not valid JSON", [f"(root): not valid JSON: {exc}"]) from None

    def budget_from(request: Request, value: Any) -> float | None:
        raw = value if value is not None else request.headers.get("x-latency-budget-ms")
        if raw is None:
            return None
        if isinstance(raw, bool):
            raise ApiError(422, "invalid latency budget", ["latency_budget_ms: must be a positive integer"])
        try:
            budget = int(raw)
        except (TypeError, ValueError):
            raise ApiError(422, "invalid latency budget", ["latency_budget_ms: must be a positive integer"]) \
                from None
        if budget < 1:
            raise ApiError(422, "invalid latency budget", ["latency_budget_ms: must be >= 1"])
        return float(budget)

    def check_options(body: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
        bad = sorted(set(body) - allowed)
        if bad:
            raise ApiError(422, "invalid request", [f"{prefix}{k}: unknown key is not allowed" for k in bad])
        if "reasoning" in body and not isinstance(body["reasoning"], bool):
            raise ApiError(422, "invalid request", ["reasoning: must be a boolean"])

    def parse_one(data: Any, prefix: str = "") -> Trace:
        try:
            return parse_trace(data)
        except TraceValidationError as exc:
            raise ApiError(422, "invalid trace", [prefix + e if not e.startswith("(root)") or not prefix
                                                  else prefix.rstrip(".") + e[6:] for e in exc.errors]) from None

    async def route(request: Request, traces: list[Trace], reasoning: bool, budget: float | None,
                    t0: float) -> list[dict[str, Any]]:
        router: Router = request.app.state.router
        decisions = await router.classify(traces, reasoning=reasoning, latency_budget_ms=budget)
        failed = [d for d in decisions if isinstance(d, AllBackendsFailed)]
        if failed:
            request.state.backend = "none"
            raise ApiError(503, str(failed[0]), [f"{f['backend']}: {f['reason']}" for f in failed[0].fallbacks])
        ms = round((time.perf_counter() - t0) * 1000, 3)
        out = []
        for d in decisions:
            assert not isinstance(d, AllBackendsFailed)
            row = d.to_dict()
            if not reasoning:
                row.pop("reasoning", None)
            row["latency_ms"] = ms
            metrics.classes.labels(row["class"], d.backend).inc()
            if d.abstained:
                metrics.abstentions.inc()
            out.append(row)
        request.state.backend = ",".join(sorted({r["backend"] for r in out}))
        request.state.class_name = ",".join(sorted({r["class"] for r in out}))
        return out

    # -- routes -------------------------------------------------------------------------------------------------

    @app.post("/v1/classify", response_model=ClassifyResult, responses=_ERRORS, openapi_extra=_request_schema(False),
              summary="Classify one trace")
    async def classify(request: Request,
                       reasoning: bool = Query(False, description="ask the backend for a short reasoning")
                       ) -> JSONResponse:
        """One ``formwhy.trace/v1`` trace (bare, or wrapped as ``{"trace", "reasoning", "latency_budget_ms"}``) →
        class, calibrated probabilities, prediction set, recovery flow. Auth: the API key, or a session token."""
        t0 = time.perf_counter()
        authenticate(request, allow_token=True)
        body = await read_json(request)
        budget_field = None
        if isinstance(body, dict) and "schema" not in body and "trace" in body:
            check_options(body, {"trace", "reasoning", "latency_budget_ms"})
            reasoning = reasoning or bool(body.get("reasoning", False))
            budget_field = body.get("latency_budget_ms")
            data = body["trace"]
            trace = parse_one(data, "trace.")
        else:
            trace = parse_one(body)
        budget = budget_from(request, budget_field)
        rows = await route(request, [trace], reasoning, budget, t0)
        return JSONResponse(rows[0], headers={"X-Formwhy-Backend": rows[0]["backend"]})

    @app.post("/v1/classify/batch", response_model=BatchResult, responses=_ERRORS,
              openapi_extra=_request_schema(True), summary="Classify several traces")
    async def classify_batch(request: Request, reasoning: bool = Query(False)) -> JSONResponse:
        """``{"traces": [...], "reasoning"?, "latency_budget_ms"?}`` → ``{"results": [...]}`` in order. API key only."""
        t0 = time.perf_counter()
        authenticate(request, allow_token=False)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(422, "invalid request", ["(root): must be an object with 'traces'"])
        check_options(body, {"traces", "reasoning", "latency_budget_ms"})
        items = body.get("traces")
        if not isinstance(items, list) or not items:
            raise ApiError(422, "invalid request", ["traces: must be a non-empty array"])
        if len(items) > config.max_batch:
            raise ApiError(413, f"at most {config.max_batch} traces per batch", [f"traces: {len(items)} items"])
        errors: list[str] = []
        traces: list[Trace] = []
        for i, data in enumerate(items):
            try:
                traces.append(parse_one(data, f"traces[{i}]."))
            except ApiError as exc:
                errors.extend(exc.errors or [])
        if errors:
            raise ApiError(422, "invalid trace(s)", errors)
        reasoning = reasoning or bool(body.get("reasoning", False))
        rows = await route(request, traces, reasoning, budget_from(request, body.get("latency_budget_ms")), t0)
        return JSONResponse({"results": rows, "latency_ms": round((time.perf_counter() - t0) * 1000, 3)})

    @app.post("/v1/tokens", response_model=TokenBody, responses=_ERRORS, summary="Mint a per-page session token")
    async def mint_token(request: Request) -> JSONResponse:
        """A short-lived token for one page view (API key only). The page passes it to the snippet, which uses it
        on ``fetch`` (Bearer) and ``sendBeacon`` (``?token=``); the API key never reaches the browser."""
        authenticate(request, allow_token=False)
        token, sid, exp = tokens.issue()
        return JSONResponse({"token": token, "session_id": sid, "expires_at": exp})

    @app.post("/v1/beacon", status_code=202, responses=_ERRORS, summary="Receive a trace from navigator.sendBeacon")
    async def beacon(request: Request, token: str = Query(..., description="the page's session token")
                     ) -> JSONResponse:
        """The body is the trace as JSON (sent as text/plain, which a beacon can send without a CORS preflight).
        The answer is kept for ``GET /v1/sessions/{session_id}/result`` (the page that sent it is gone)."""
        t0 = time.perf_counter()
        if config.auth_disabled:
            sid = request.query_params.get("token", "anonymous")[:64]
        else:
            try:
                sid = tokens.verify(token)
                tokens.spend(sid)
            except TokenError as exc:
                raise ApiError(401, f"invalid session token: {exc}") from None
        trace = parse_one(await read_json(request))
        rows = await route(request, [trace], False, None, t0)
        results[sid] = rows[0]
        while len(results) > _MAX_RESULTS:
            results.popitem(last=False)
        return JSONResponse({"accepted": True, "session_id": sid}, status_code=202)

    @app.get("/v1/sessions/{session_id}/result", response_model=ClassifyResult, responses=_ERRORS,
             summary="The answer to a session's beacon")
    async def session_result(request: Request, session_id: str) -> JSONResponse:
        """Auth: the API key, or that session's token (which this read does not spend)."""
        if not config.auth_disabled:
            header = request.headers.get("authorization", "")
            cred = header.partition(" ")[2].strip()
            assert config.api_key is not None
            if not hmac.compare_digest(cred.encode(), config.api_key.get_secret_value().encode()):
                try:
                    if tokens.verify(cred) != session_id:
                        raise TokenError("token is for another session")
                except TokenError as exc:
                    raise ApiError(401, f"invalid credentials: {exc}") from None
        if session_id not in results:
            raise ApiError(404, "no result for this session (yet)")
        return JSONResponse(results[session_id])

    @app.get("/healthz", summary="Liveness and backend availability")
    async def healthz(request: Request) -> JSONResponse:
        router: Router | None = getattr(request.app.state, "router", None)
        slots = [] if router is None else [s.health() for s in router.slots]
        ok = any(s["available"] for s in slots)
        body = {"status": "ok" if ok else "degraded", "version": __version__, "backends": slots,
                "auth": "disabled" if config.auth_disabled else "api_key", "classes": list(NAMES),
                "max_events": MAX_EVENTS, "max_body_bytes": config.max_body_bytes}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics_route() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if config.demo:
        @app.get("/demo", response_class=HTMLResponse, summary="Two-step checkout demo (uses the snippet)")
        async def demo() -> HTMLResponse:
            """Mints a session token for this page view and puts it in the page; no API key reaches the browser."""
            token, sid, _ = tokens.issue()
            html = (STATIC_DIR / "demo.html").read_text(encoding="utf-8")
            html = html.replace("__FORMWHY_TOKEN__", token).replace("__FORMWHY_SESSION__", sid)
            return HTMLResponse(html, headers={"Cache-Control": "no-store"})

        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    _add_trace_schema(app)
    return app


def _add_trace_schema(app: FastAPI) -> None:
    """Put the Trace model's JSON Schema into the OpenAPI components (the request bodies refer to it)."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = base()
        schema = Trace.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        defs = schema.pop("$defs", {})
        comps = doc.setdefault("components", {}).setdefault("schemas", {})
        comps.update(defs)
        comps["Trace"] = schema
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
