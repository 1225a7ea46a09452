"""Schema-driven fuzzing of the real gateway (real model, loopback) from its own OpenAPI document.

Every operation, /v1/emotions with each documented body (multipart, JSON, raw image) and every
query parameter: no 5xx, each response as documented (status, schema), and every error body
``{"error": {"code", "message"}}`` with a documented code. Bounded in `make test` (derandomized,
FUZZ_EXAMPLES examples per operation); `make fuzz` runs many more.
"""

from __future__ import annotations

import os

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from emotion_api import errors
from emotion_api.api.main import create_app
from emotion_api.core.config import Settings
from harness.http import TIMEOUT
from harness.servers import MODEL_DIR

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
# The document the gateway serves at /openapi.json, built by the same app factory without starting
# it (the served one is checked equal below), so operations become separate test cases.
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(model_base_path=MODEL_DIR)).openapi())


def _documented_codes() -> set[str]:
    found, todo = set(), [errors.ApiError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return found | set(errors._HTTP_CODES.values())


def error_body_shape(ctx, response, case) -> bool | None:
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] in _documented_codes(), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return True


def test_served_schema_is_the_fuzzed_one(gateway):
    assert httpx.get(f"{gateway.url}/openapi.json", timeout=TIMEOUT).json() == SCHEMA.raw_schema


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_gateway_matches_its_schema(case, gateway):
    case.call_and_validate(
        base_url=gateway.url,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance, error_body_shape],
        timeout=60,
    )
