"""Overload: far more clients than the gateway can take are answered or refused at once.

Admission control (admission.py) bounds the images between arrival and the end of face detection
(DETECT_QUEUE_SIZE); beyond it a request gets `503 overloaded` with `Retry-After` before it is
decoded, REST and stream alike. Here a real gateway with one detection worker, two admission slots
and a small batch queue takes 200 clients sending 640x480 JPEG scenes (each again at once when
answered, after Retry-After when refused), plus one camera stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import aiohttp
import pytest
from websockets.asyncio.client import connect

from emotion_api.admission import Admission
from emotion_api.core.config import DETECT_QUEUE_PER_WORKER, Settings
from emotion_api.errors import Overloaded
from harness.http import metric_value, post_image, scrape
from harness.images import encode, scene
from harness.servers import Gateway, rss_mib

CLIENTS = 200  # twenty times what the gateway below holds (2 images in detection, 8 crops queued)
LOAD_S = 8.0
# A refusal costs about a millisecond of the gateway's CPU and no queueing, so its p99 is the
# machine's scheduling lag (the gateway runs at nice 19 beside other suites): 0.17-0.56 s measured
# alone, 1.1 s with two other suites on the same two cores. Far under the 10 s deadline either way.
REFUSAL_P99_S = 1.5
ANSWER_P99_S = 4.0  # two images ahead at most, on one worker: 0.3-0.9 s measured
RSS_GROWTH_MIB = 250.0  # 50-65 MiB measured


def test_admission_counts_slots_and_refuses_beyond_its_limit():
    admission = Admission(2)
    first, second = admission.admit(), admission.admit()
    with pytest.raises(Overloaded) as refused:
        admission.admit()
    assert refused.value.status == 503 and refused.value.code == "overloaded"
    assert refused.value.headers["Retry-After"] == "1"
    first.release()
    first.release()  # a slot frees once, however often it is released
    assert admission.active == 1
    with admission.admit():
        assert admission.active == 2
    second.release()
    assert admission.active == 0


def test_detect_queue_size_defaults_to_a_multiple_of_the_detection_workers(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_BASE_PATH", str(tmp_path))
    monkeypatch.setenv("DETECT_WORKERS", "3")
    assert Settings().detect_queue_size == 3 * DETECT_QUEUE_PER_WORKER
    monkeypatch.setenv("DETECT_QUEUE_SIZE", "5")
    assert Settings().detect_queue_size == 5
    monkeypatch.setenv("DETECT_QUEUE_SIZE", "0")
    with pytest.raises(ValueError):
        Settings()


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _client(url: str, image: bytes, stop_at: float, answers: list) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        while time.monotonic() < stop_at:
            form = aiohttp.FormData()
            form.add_field("image", image, filename="scene.jpg", content_type="image/jpeg")
            started = time.monotonic()
            try:
                async with session.post(f"{url}/v1/emotions", data=form) as response:
                    body = await response.json(content_type=None)
                    code = body["error"]["code"] if response.status != 200 else "ok"
                    answers.append((response.status, code, response.headers.get("Retry-After"),
                                    time.monotonic() - started))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # a lost answer: must not happen
                answers.append(("lost", type(exc).__name__, None, time.monotonic() - started))
            if answers[-1][0] != 200:
                await asyncio.sleep(float(answers[-1][2] or 1))  # as a well-behaved client: Retry-After


async def _camera(url: str, image: bytes, stop_at: float, replies: list) -> None:
    """One stream at 8 frames per second, well under STREAM_MAX_FPS."""
    async with connect(url.replace("http://", "ws://") + "/v1/emotions/stream", max_size=None) as socket:
        assert json.loads(await socket.recv())["ready"] is True
        while time.monotonic() < stop_at:
            await socket.send(image)
            replies.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))
            await asyncio.sleep(0.125)


async def _memory(pid: int, stop_at: float, samples: list) -> None:
    while time.monotonic() < stop_at:
        samples.append(rss_mib(pid))
        await asyncio.sleep(0.25)


async def _overload(url: str, pid: int, image: bytes) -> tuple[list, list, list]:
    answers, replies, samples = [], [], []
    stop_at = time.monotonic() + LOAD_S
    await asyncio.gather(_memory(pid, stop_at, samples), _camera(url, image, stop_at, replies),
                         *(_client(url, image, stop_at, answers) for _ in range(CLIENTS)))
    return answers, replies, samples


@pytest.mark.slow
def test_far_more_clients_than_capacity_are_answered_or_refused_at_once():
    gateway = Gateway.launch({"DETECT_WORKERS": "1", "DETECT_QUEUE_SIZE": "2", "QUEUE_SIZE": "8"}).wait()
    try:
        image = encode(scene(3).image, "JPEG", quality=85)  # a camera's frame, 640x480
        for _ in range(3):  # warm: the worker is started, the model traced, before memory is measured
            assert post_image(gateway.url, image).status_code == 200
        baseline = rss_mib(gateway.process.popen.pid)
        answers, replies, samples = asyncio.run(_overload(gateway.url, gateway.process.popen.pid, image))
        metrics = scrape(gateway.url)
    finally:
        gateway.stop()

    statuses = Counter((a[0], a[1]) for a in answers)
    ok = [a[3] for a in answers if a[0] == 200]
    refused = [a for a in answers if a[0] == 503]
    summary = (f"{len(answers)} answers {dict(statuses)}; 200 p99 {p99(ok):.2f}s; "
               f"503 p99 {p99([a[3] for a in refused]):.3f}s; RSS {baseline:.0f} -> max {max(samples):.0f} MiB")
    print(summary)
    assert set(statuses) <= {(200, "ok"), (503, "overloaded")}, summary  # no 504, no lost answer
    assert ok and refused, summary
    assert all(a[2] == "1" for a in refused), "every refusal says when to come back"
    assert p99([a[3] for a in refused]) < REFUSAL_P99_S, summary
    assert p99(ok) < ANSWER_P99_S, summary
    assert max(samples) - baseline < RSS_GROWTH_MIB, summary
    # Every refusal is counted; nearly all come from admission (the rest from the batch queue).
    overloaded = len(refused) + sum(1 for r in replies if "error" in r)
    assert metric_value(metrics, "emotion_overloaded_total") == overloaded
    assert 0.9 * overloaded <= metric_value(metrics, "emotion_admission_refused_total") <= overloaded
    assert metric_value(metrics, "emotion_admitted_images") == 0  # every slot was given back

    # The stream is admitted the same way: each frame gets a result or an overloaded reply.
    codes = Counter(r["error"]["code"] if "error" in r else "ok" for r in replies)
    assert codes and set(codes) <= {"ok", "overloaded"}, codes
    assert codes["overloaded"], codes
    assert all(r["error"]["retry_after"] == 1 for r in replies if "error" in r)

