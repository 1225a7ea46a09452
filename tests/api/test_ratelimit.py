"""Rate limits per API key: in memory (guarded gateway) and shared through a real redis-server."""

from __future__ import annotations

import re

import httpx
import redis

from tests.api.conftest import GUARDED_KEYS, GUARDED_RATE, SERVING_KEYS, SERVING_RATE
from tests.utils.http import assert_error, get, metric_value, scrape


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
