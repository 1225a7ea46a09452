"""Face detection in worker processes: what they load, and the gateway surviving one's death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from emotion_api.core.config import usable_cpus
from harness.http import assert_error, post_image
from harness.images import scene_png
from harness.servers import child_pids, python_env


def detection_workers(gateway) -> set[int]:
    """The gateway's children that run emotion_api's detection worker (multiprocessing spawn)."""
    workers = set()
    for pid in child_pids(gateway.process.popen.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing.spawn" in cmdline:
            workers.add(pid)
    return workers


def wait_for_workers(gateway, count: int, timeout_s: float = 60.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        workers = detection_workers(gateway)
        if len(workers) >= count:
            return workers
        time.sleep(0.2)
    raise AssertionError(f"expected {count} detection workers, found {detection_workers(gateway)}")


def test_one_worker_per_core_without_tensorflow(gateway):
    assert post_image(gateway.url, scene_png(3)).status_code == 200
    workers = wait_for_workers(gateway, usable_cpus())
    for pid in workers:
        maps = Path(f"/proc/{pid}/maps").read_text()
        # The point of handing the MTCNN graphs over: a worker maps OpenCV, never TensorFlow.
        assert "cv2" in maps
        assert "tensorflow" not in maps and "libtensorflow" not in maps


def test_a_killed_worker_costs_at_most_one_request(gateway):
    image = scene_png(3)
    assert post_image(gateway.url, image).status_code == 200
    victim = min(wait_for_workers(gateway, 1))
    os.kill(victim, signal.SIGKILL)
    failures = 0
    for _ in range(20):
        response = post_image(gateway.url, image)
        if response.status_code == 200:
            break
        assert_error(response, 503, "detector_unavailable")
        failures += 1
    else:
        raise AssertionError("the gateway did not recover from a killed detection worker")
    assert failures <= 1
    assert response.json()["faces"], "the scene has faces; the new workers must find them"
    assert victim not in detection_workers(gateway)


POOL_SCRIPT = """
import asyncio, json, os, sys
from pathlib import Path
from emotion_api.detection_pool import DetectionPool
pool = DetectionPool("haar", workers=2)
asyncio.run(pool.warm_up())
tasks = Path(f"/proc/{os.getpid()}/task").glob("*/children")
print(json.dumps([int(pid) for task in tasks for pid in task.read_text().split()]), flush=True)
sys.stdin.read()  # until the test kills us
"""


def test_workers_exit_when_the_gateway_is_killed():
    # SIGKILL (or the OOM killer) gives the parent no chance to stop its pool.
    parent = subprocess.Popen([sys.executable, "-c", POOL_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=python_env())
    try:
        # The two workers and multiprocessing's resource tracker.
        workers = json.loads(parent.stdout.readline())
        assert len(workers) == 3 and all(running(pid) for pid in workers)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(running(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers), "processes outlived the killed gateway"


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
