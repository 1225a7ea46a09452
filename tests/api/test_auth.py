"""API keys: /v1 needs one when API_KEYS is set (Bearer or X-API-Key); health and metrics do not."""

from __future__ import annotations

import pytest

from emotion_api.auth import authenticate, presented_key
from emotion_api.errors import Unauthorized
from tests.api.conftest import GUARDED_KEYS
from harness.http import assert_error, get, post

KEY = GUARDED_KEYS[0]


def test_missing_and_wrong_keys_are_refused(guarded):
    response = get(f"{guarded.url}/v1/models")
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert_error(get(f"{guarded.url}/v1/models", headers={"X-API-Key": KEY + "x"}), 401, "unauthorized")
    assert_error(get(f"{guarded.url}/v1/models", headers={"Authorization": f"Basic {KEY}"}), 401, "unauthorized")
    files = {"image": ("a.png", b"x", "image/png")}
    assert_error(post(f"{guarded.url}/v1/emotions", files=files), 401, "unauthorized")


@pytest.mark.parametrize("headers", [{"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}])
def test_valid_key_is_accepted(guarded, headers):
    response = get(f"{guarded.url}/v1/models", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "emotion"


def test_open_endpoints_need_no_key(guarded):
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert get(f"{guarded.url}{path}").status_code == 200, path


def test_open_gateway_needs_no_key(gateway):
    assert get(f"{gateway.url}/v1/models").status_code == 200


def test_authenticate_identity_hides_the_key():
    from pydantic import SecretStr

    keys = (SecretStr("first-key-123"), SecretStr("second-key-456"))
    identity = authenticate({"x-api-key": "second-key-456"}, keys)
    assert identity is not None and "second" not in identity
    assert identity != authenticate({"authorization": "Bearer first-key-123"}, keys)
    assert presented_key({"authorization": "bearer   tok"}) == "tok"
    with pytest.raises(Unauthorized):
        authenticate({"x-api-key": "second-key-45"}, keys)
    assert authenticate({}, ()) is None
