"""Rate limits per API key: in memory (guarded gateway) and shared through a real redis-server."""

from __future__ import annotations

import re

import httpx
import redis

from tests.api.conftest import GUARDED_KEYS, GUARDED_RATE, SERVING_KEYS, SERVING_RATE
from harness.http import assert_error, get, metric_value, scrape


def exhaust(url: str, key: str, quota: int) -> httpx.Response:
    """Spend ``quota`` requests (checking the headers count down), return the next response."""
    headers = {"X-API-Key": key}
    remaining = []
    for _ in range(quota):
        response = get(f"{url}/v1/models", headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-policy"] == f'"default";q={quota};w=60'
        match = re.fullmatch(r'"default";r=(\d+);t=(\d+)', response.headers["ratelimit"])
        assert match, response.headers["ratelimit"]
        remaining.append(int(match.group(1)))
    assert remaining == sorted(remaining, reverse=True) and remaining[-1] == 0
    return get(f"{url}/v1/models", headers=headers)


def check_refusal(response: httpx.Response, quota: int) -> None:
    assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert response.headers["ratelimit-policy"] == f'"default";q={quota};w=60'
    assert response.headers["ratelimit"].startswith('"default";r=0;')


def test_memory_rate_limit_per_key(guarded):
    before = metric_value(scrape(guarded.url), "emotion_rate_limited_total")
    check_refusal(exhaust(guarded.url, GUARDED_KEYS[1], GUARDED_RATE), GUARDED_RATE)
    # Another key has its own quota; health checks are never limited.
    assert get(f"{guarded.url}/v1/models", headers={"X-API-Key": GUARDED_KEYS[0]}).status_code == 200
    assert get(f"{guarded.url}/healthz").status_code == 200
    assert metric_value(scrape(guarded.url), "emotion_rate_limited_total") == before + 1


def test_redis_rate_limit_is_shared_state(serving_gateway, redis_port):
    store = redis.Redis(host="127.0.0.1", port=redis_port)
    check_refusal(exhaust(serving_gateway.url, SERVING_KEYS[1], SERVING_RATE), SERVING_RATE)
    keys = [k.decode() for k in store.scan_iter("*")]
    assert keys, "the limiter should keep its counters in Redis"
    assert all(SERVING_KEYS[1] not in k for k in keys), "raw API keys must not reach Redis"
    # Clearing Redis clears the quota: the counters live there, not in the gateway.
    store.flushdb()
    assert get(f"{serving_gateway.url}/v1/models", headers={"X-API-Key": SERVING_KEYS[1]}).status_code == 200


def test_redis_outage_falls_back_to_per_replica_counters_and_recovers(tmp_path):
    """Redis killed under a running gateway, then started again on the same port."""
    import shutil
    import sys
    import time

    from harness.servers import Gateway, Process, free_port, python_env, wait_port

    redis_port, quota = free_port(), 4
    redis_args = [shutil.which("redis-server"), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(tmp_path)]
    store = Process(f"redis:{redis_port}", redis_args).start()
    wait_port(store, redis_port)
    port = free_port()
    # Serving at a dead port and Haar: starts without TensorFlow; /v1/models answers 503 once the
    # quota lets a request through, so allowed and refused requests stay apart (503 vs 429).
    env = python_env({"SERVING_ADDRESS": f"127.0.0.1:{free_port()}", "DETECTOR": "haar",
                      "RATE_LIMIT": f"{quota}/minute", "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"})
    process = Process(f"gateway:{port}", [sys.executable, "-m", "uvicorn", "emotion_api.main:app", "--host",
                                          "127.0.0.1", "--port", str(port), "--no-server-header"], env).start()
    gateway = Gateway(port, env, process)
    try:
        gateway.wait("/healthz")
        url = gateway.url
        assert get(f"{url}/v1/models").status_code != 429
        assert redis.Redis(port=redis_port).keys("*"), "counted in Redis while it is up"

        store.stop()
        codes = [get(f"{url}/v1/models").status_code for _ in range(quota + 2)]
        # The replica counts alone from zero: the quota still holds, nothing is let through unlimited.
        assert codes[:quota] == [503] * quota and codes[quota:] == [429, 429], codes
        assert metric_value(scrape(url), "emotion_rate_limit_degraded", {"policy": "default"}) == 1
        assert "unreachable, using per-replica memory counters" in process.log_tail()

        store = Process(f"redis:{redis_port}", redis_args).start()
        wait_port(store, redis_port)
        deadline = time.monotonic() + 15
        while not redis.Redis(port=redis_port).keys("*"):
            assert time.monotonic() < deadline, "the gateway never went back to Redis"
            assert get(f"{url}/v1/models").status_code != 500
            time.sleep(0.5)
        # Back on shared counters (the restarted Redis is empty, so the quota starts afresh).
        assert get(f"{url}/v1/models").status_code == 503
        assert metric_value(scrape(url), "emotion_rate_limit_degraded", {"policy": "default"}) == 0
        assert "reachable again" in process.log_tail()
    finally:
        process.stop()
        store.stop()
