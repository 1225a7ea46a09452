"""Security basics: nosniff everywhere, a strict CSP on the page, no server banner, throttled key
guessing, and no API key in any log line."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from harness.http import assert_error, get, metric_value, post, scrape
from harness.servers import REPO, Gateway, Process, free_port, python_env

KEY = "throttle-key-0123"
GUESS_LIMIT = 3


def test_every_response_says_nosniff_and_names_no_server(gateway):
    responses = [
        get(f"{gateway.url}{path}") for path in ("/", "/healthz", "/readyz", "/metrics", "/v1/models", "/openapi.json", "/nope")
    ]
    responses.append(post(f"{gateway.url}/v1/emotions", content=b"not an image", headers={"content-type": "image/png"}))
    responses.append(post(f"{gateway.url}/v1/emotions", params={"detect": "maybe"}))
    responses.append(httpx.delete(f"{gateway.url}/v1/emotions"))
    for response in responses:
        where = (response.request.method, str(response.url), response.status_code)
        assert response.headers.get("x-content-type-options") == "nosniff", where
        assert "server" not in response.headers, where


def test_the_page_allows_its_own_origin_only(gateway):
    csp = get(f"{gateway.url}/").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "unsafe" not in csp and "http" not in csp


@pytest.fixture(scope="module")
def keyed_light(tmp_path_factory) -> Iterator[tuple[Gateway, Process]]:
    """A gateway with keys and a low AUTH_FAILURE_LIMIT, logging at info (uvicorn's access log on).

    Its backend is TF Serving at a port nothing listens on and its detector Haar, so it starts in
    a second without TensorFlow: authentication runs before any backend call.
    """
    port = free_port()
    env = python_env({"SERVING_ADDRESS": f"127.0.0.1:{free_port()}", "DETECTOR": "haar", "API_KEYS": KEY,
                      "AUTH_FAILURE_LIMIT": f"{GUESS_LIMIT}/minute", "LOG_LEVEL": "info"})
    args = [sys.executable, "-m", "uvicorn", "emotion_api.main:app", "--host", "127.0.0.1", "--port", str(port),
            "--no-server-header", "--log-level", "info"]
    process = Process(f"gateway:{port}", args, env).start()
    gateway = Gateway(port, env, process)
    try:
        yield gateway.wait("/healthz"), process
    finally:
        process.stop()


def test_failed_key_attempts_are_throttled_per_address(keyed_light):
    gateway, _ = keyed_light
    for attempt in range(GUESS_LIMIT):
        assert_error(get(f"{gateway.url}/v1/models", headers={"X-API-Key": f"guess-{attempt:08d}"}), 401, "unauthorized")
    # Over the limit even the right key is refused: a lucky guess must not be told apart.
    for headers in ({"X-API-Key": "guess-final-000"}, {"X-API-Key": KEY}):
        response = get(f"{gateway.url}/v1/models", headers=headers)
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) >= 1
    assert metric_value(scrape(gateway.url), "emotion_auth_throttled_total") >= 2
    assert metric_value(scrape(gateway.url), "emotion_auth_failures_total") == GUESS_LIMIT
    # The stream is guarded by the same counter.
    with connect(f"ws://127.0.0.1:{gateway.port}/v1/emotions/stream?api_key={KEY}", open_timeout=30) as socket:
        reply = socket.recv(timeout=30)
        assert '"rate_limited"' in reply
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=30)


def test_keys_never_reach_the_log(keyed_light):
    gateway, process = keyed_light
    secret = "secret-in-query-77"
    get(f"{gateway.url}/v1/models", params={"api_key": secret}, headers={"Authorization": f"Bearer {secret}x"})
    try:
        with connect(f"ws://127.0.0.1:{gateway.port}/v1/emotions/stream?api_key={secret}", open_timeout=30) as socket:
            socket.recv(timeout=30)
    except ConnectionClosed:
        pass
    get(f"{gateway.url}/healthz")  # one more access-log line, so the ones before are flushed
    log = process.log_tail(200_000)
    assert "/v1/emotions/stream" in log and "/v1/models" in log, log[-2000:]  # the lines were written...
    assert secret not in log and KEY not in log  # ...without the keys
    assert "Logging error" not in log and "[redacted]" in log  # redacted, and every line still formats


@pytest.mark.parametrize("launcher", ["Makefile", "services/api/Dockerfile"])
def test_every_way_of_starting_the_gateway_hides_the_server_banner(launcher):
    """uvicorn adds `server: uvicorn` unless told not to; the test gateway is started the same way,
    so the image and `make run` must say so too."""
    lines = [line for line in (REPO / launcher).read_text().splitlines() if "uvicorn emotion_api.main:app" in line]
    assert lines and all("--no-server-header" in line for line in lines), lines
