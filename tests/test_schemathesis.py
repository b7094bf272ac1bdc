"""Property-based API tests generated from the service's own OpenAPI document (schemathesis): whatever the
generated request, the service never answers with a 5xx. Bounded: 30 examples per operation."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from _live_server import live_server  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from formwhy.service import BackendConfig, ServiceConfig, create_app  # noqa: E402

KEY = "schemathesis-key"
# the OpenAPI document does not depend on the model (backends load at startup)
schema = schemathesis.openapi.from_dict(create_app(ServiceConfig(api_key=KEY)).openapi())


@pytest.fixture(scope="module")
def server(features_model_dir):
    cfg = ServiceConfig(api_key=KEY, backends=[BackendConfig(name="features", model=str(features_model_dir))])
    with live_server(create_app(cfg)) as base:
        yield base


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@pytest.mark.timeout(60)
def test_no_5xx(case, server):
    for headers in ({"Authorization": f"Bearer {KEY}"}, {}):
        response = case.call(base_url=server, headers=headers, timeout=10)
        assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
