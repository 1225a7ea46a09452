"""TF Serving down, stalled and back, under load: the gateway fails fast, says it is not ready, and
recovers by itself. Serving is the gRPC test double (real protos, real model), killed with SIGKILL,
stalled with SIGSTOP and resumed, and restarted on the same port."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from harness.http import post_image
from harness.images import scene_png
from harness.servers import Gateway, launch_fake_serving, wait_grpc_ready

SERVING_TIMEOUT_S = 2.0
REQUEST_TIMEOUT_S = 4.0
DETECT_S = 5.0  # readiness must turn within this after Serving goes
RECOVER_S = 20.0  # and answers must come back within this after Serving returns


@dataclass
class Load:
    """Clients sending one after another; every answer is kept with its time and duration."""

    url: str
    image: bytes
    answers: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                response = post_image(self.url, self.image, timeout=30)
                outcome = (response.status_code, response.json()["error"]["code"] if response.status_code != 200 else "ok",
                           response.headers.get("retry-after"))
            except httpx.HTTPError as exc:  # a lost response: must never happen
                outcome = ("lost", type(exc).__name__, None)
            self.answers.append((started, time.monotonic() - started, *outcome))
            time.sleep(0.05)

    def since(self, t: float) -> list:
        return [a for a in self.answers if a[0] >= t]


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _wait(predicate, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, f"{what} took longer than {timeout_s}s"
        time.sleep(0.1)
    return time.monotonic() - start


@pytest.mark.slow
def test_serving_down_stalled_and_back():
    serving, port = launch_fake_serving()
    wait_grpc_ready(serving, port)
    gateway = Gateway.launch({"SERVING_ADDRESS": f"127.0.0.1:{port}", "SERVING_TIMEOUT_S": str(SERVING_TIMEOUT_S),
                              "REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S), "DETECTOR": "haar"}).wait()
    load = Load(gateway.url, scene_png(3))
    # The double's first Predict traces the model; warm it before timing anything.
    _wait(lambda: post_image(gateway.url, load.image, timeout=30).status_code == 200, 60, "a first answer")
    clients = [threading.Thread(target=load.run) for _ in range(4)]
    for client in clients:
        client.start()
    try:
        _wait(lambda: len(load.answers) >= 8, 60, "the first answers")
        assert {a[2] for a in load.answers} == {200}, load.answers[:5]

        # Stalled: calls time out; each request ends within its deadline, with 504 or 503.
        os.kill(serving.popen.pid, signal.SIGSTOP)
        stalled_at = time.monotonic()
        _wait(lambda: not _ready(gateway.url), DETECT_S, "readiness to turn 503 while Serving is stalled")
        time.sleep(2 * REQUEST_TIMEOUT_S)
        os.kill(serving.popen.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        _wait(lambda: _ready(gateway.url), RECOVER_S, "readiness after Serving resumed")
        time.sleep(1.0)
        stalled = [a for a in load.since(stalled_at + 0.5) if a[0] < resumed_at - REQUEST_TIMEOUT_S]
        assert stalled and all(a[2] in (503, 504) for a in stalled), stalled[:5]
        assert all(a[1] <= REQUEST_TIMEOUT_S + 1.0 for a in stalled), max(a[1] for a in stalled)

        # Down: refused fast with 503 backend_unavailable and Retry-After.
        serving.popen.send_signal(signal.SIGKILL)
        serving.popen.wait()
        killed_at = time.monotonic()
        _wait(lambda: not _ready(gateway.url), DETECT_S, "readiness to turn 503 once Serving is gone")
        time.sleep(REQUEST_TIMEOUT_S + 2.0)
        down = load.since(killed_at + 1.0)
        assert down and all(a[2] == 503 and a[3] == "backend_unavailable" and a[4] for a in down), down[:5]
        assert all(a[1] < REQUEST_TIMEOUT_S for a in down)

        # Back on the same port: the gateway reconnects without a restart.
        serving, _ = launch_fake_serving(port=port)
        wait_grpc_ready(serving, port)
        back_at = time.monotonic()
        recovered = _wait(lambda: _ready(gateway.url), RECOVER_S, "readiness after Serving came back")
        ready_at = time.monotonic()
        _wait(lambda: len(load.since(ready_at)) >= 8, 60, "answers after recovery")
        after = load.since(ready_at)
        assert all(a[2] == 200 for a in after), after[:5]  # no errors after recovery
        print(f"ready again {recovered:.1f}s after Serving came back")
    finally:
        load.stop.set()
        for client in clients:
            client.join()
        gateway.stop()
        if serving.alive():
            os.kill(serving.popen.pid, signal.SIGCONT)
        serving.stop()
    assert not [a for a in load.answers if a[2] == "lost"], "every request must get exactly one answer"
    assert not [a for a in load.answers if a[2] not in (200, 503, 504, "lost")]
