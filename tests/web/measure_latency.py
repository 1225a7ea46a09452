"""Webcam transport choice: per-frame latency of repeated POSTs vs one WebSocket, same frames.

    PYTHONPATH=services/contract:services/api:. .venv/bin/python tests/web/measure_latency.py --url http://127.0.0.1:8000

Sends the same 640x480 JPEG (a real FER-2013 val face pasted into a scene, as a webcam frame
would hold one face) N times, one at a time like the page does (next frame after the reply):
POST /v1/emotions over one keep-alive connection, then WS /v1/emotions/stream. Prints median and
p90 round trips. The gateway's STREAM_MAX_FPS must be above the rate this reaches, or frames are
refused; run the gateway with STREAM_MAX_FPS=120 for the measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import cv2
import httpx
from websockets.sync.client import connect

from harness.scenes import make_scene


def frame_jpeg() -> bytes:
    scene = make_scene(7, n_faces=1)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(scene.image, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return data.tobytes()


def summary(name: str, samples: list[float]) -> str:
    ms = sorted(1000 * s for s in samples)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"{name:10s} median {statistics.median(ms):6.1f} ms   p90 {p90:6.1f} ms   ({len(ms)} frames)"


def measure_post(url: str, frame: bytes, n: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(n + 3):
            started = time.perf_counter()
            response = client.post("/v1/emotions", files={"image": ("frame.jpg", frame, "image/jpeg")})
            response.raise_for_status()
            if i >= 3:  # the first calls warm the connection and the model
                samples.append(time.perf_counter() - started)
    return samples


def measure_ws(url: str, frame: bytes, n: int) -> list[float]:
    samples = []
    with connect(url.replace("http", "ws", 1) + "/v1/emotions/stream") as socket:
        assert json.loads(socket.recv())["ready"]
        for i in range(n + 3):
            started = time.perf_counter()
            socket.send(frame)
            reply = json.loads(socket.recv())
            assert "error" not in reply, reply
            if i >= 3:
                samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-n", type=int, default=60)
    args = parser.parse_args()
    frame = frame_jpeg()
    print(f"frame: 640x480 JPEG, {len(frame)} bytes")
    for _ in range(2):  # alternate, so neither transport benefits from running second
        print(summary("POST", measure_post(args.url, frame, args.n)))
        print(summary("WebSocket", measure_ws(args.url, frame, args.n)))


if __name__ == "__main__":
    main()
