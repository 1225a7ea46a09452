"""/metrics content, and a real Prometheus scraping the gateway and answering a query about it."""

from __future__ import annotations

import time

import pytest

from harness.http import get, metric_value, post_image, scrape
from harness.images import scene_png
from harness.servers import launch_prometheus

FAMILIES = (
    "emotion_http_requests_total",
    "emotion_http_request_duration_seconds",
    "emotion_stage_duration_seconds",
    "emotion_batch_size",
    "emotion_queue_wait_seconds",
    "emotion_faces_per_image",
    "emotion_predictions_total",
    "emotion_rate_limited_total",
    "emotion_model_info",
    "emotion_model_version_requests_total",
    "emotion_model_version_latency_seconds",
)


def test_metrics_exposition(gateway):
    post_image(gateway.url, scene_png(3))
    text = scrape(gateway.url)
    for family in FAMILIES:
        assert family in text, family
    assert metric_value(text, "emotion_http_requests_total", {"route": "/v1/emotions", "status": "200"}) >= 1
    for stage in ("decode", "detect", "backend"):
        assert metric_value(text, "emotion_stage_duration_seconds_count", {"stage": stage}) >= 1, stage
    assert metric_value(text, "emotion_model_info", {"name": "emotion", "backend": "embedded"}) == 1
    assert sum(metric_value(text, "emotion_predictions_total", {"emotion": e}) for e in
               ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")) >= 1
    # Unknown paths share one label value instead of creating a series each.
    get(f"{gateway.url}/no/such/path/123")
    assert 'route="/no/such/path/123"' not in scrape(gateway.url)
    assert metric_value(scrape(gateway.url), "emotion_http_requests_total", {"route": "unmatched"}) >= 1


def test_prometheus_scrapes_the_gateway(gateway, tmp_path):
    for _ in range(3):
        assert post_image(gateway.url, scene_png(7)).status_code == 200
    prometheus, port = launch_prometheus(tmp_path, gateway.port)
    query = 'sum(emotion_http_requests_total{route="/v1/emotions",status="200"})'
    try:
        expected = metric_value(scrape(gateway.url), "emotion_http_requests_total",
                                {"route": "/v1/emotions", "status": "200"})
        deadline = time.monotonic() + 60
        value = None
        while time.monotonic() < deadline:
            response = get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=5)
            result = response.json()["data"]["result"] if response.status_code == 200 else []
            if result:
                value = float(result[0]["value"][1])
                if value >= expected:
                    break
            time.sleep(0.5)
        assert value == pytest.approx(expected), prometheus.log_tail()
        targets = get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        assert targets[0]["health"] == "up"
    finally:
        prometheus.stop()
