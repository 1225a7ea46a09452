"""Small HTTP helpers shared by the API tests."""

from __future__ import annotations

import base64
import re

import httpx

# The suite shares two cores with training and other suites: allow slow answers, not hangs.
TIMEOUT = 30.0


def post_image(base_url: str, data: bytes, *, params: dict | None = None, headers: dict | None = None,
               filename: str = "image.png", content_type: str = "image/png", timeout: float = TIMEOUT) -> httpx.Response:
    files = {"image": (filename, data, content_type)}
    return httpx.post(f"{base_url}/v1/emotions", files=files, params=params, headers=headers, timeout=timeout)


def post_json(base_url: str, data: bytes, **kwargs) -> httpx.Response:
    body = {"image": base64.b64encode(data).decode()}
    return httpx.post(f"{base_url}/v1/emotions", json=body, timeout=TIMEOUT, **kwargs)


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` in a /metrics text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
        if all(found.get(k) == v for k, v in (labels or {}).items()):
            total += float(match.group(4))
    return total


def scrape(base_url: str) -> str:
    return httpx.get(f"{base_url}/metrics", timeout=TIMEOUT).text


def get(url: str, **kwargs) -> httpx.Response:
    return httpx.get(url, **{"timeout": TIMEOUT, **kwargs})


def post(url: str, **kwargs) -> httpx.Response:
    return httpx.post(url, **{"timeout": TIMEOUT, **kwargs})
