"""Graceful shutdown: SIGTERM while requests are in flight, against a real gateway process."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.http import post_image
from harness.images import scene_png
from harness.servers import Gateway, child_pids

IN_FLIGHT = 12
DRAIN_S = 2.0
EXIT_WITHIN_S = 30  # Kubernetes' default terminationGracePeriodSeconds (see deploy/k8s/gateway.yaml)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); it has exited, only not been reaped.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


@pytest.mark.slow
def test_sigterm_lets_accepted_requests_finish_then_exits_with_its_workers():
    gateway = Gateway.launch({"SHUTDOWN_DRAIN_S": str(DRAIN_S)}).wait()
    pid = gateway.process.popen.pid
    workers = child_pids(pid)
    assert workers, "detection workers should be running"
    image = scene_png(11)
    try:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            futures = [pool.submit(post_image, gateway.url, image, timeout=60) for _ in range(IN_FLIGHT)]
            time.sleep(0.3)  # the requests are accepted and being worked on
            os.kill(pid, signal.SIGTERM)
            stopped_at = time.monotonic()
            # Not ready at once, so a load balancer stops sending; still serving meanwhile.
            ready = httpx.get(gateway.url + "/readyz", timeout=5)
            assert ready.status_code == 503 and ready.json()["error"]["code"] == "shutting_down"
            late = post_image(gateway.url, image, timeout=60)  # a request arriving during the drain
            responses = [f.result() for f in futures] + [late]
        # Nothing a client sent is cut off: every accepted request gets its full answer.
        assert [r.status_code for r in responses] == [200] * (IN_FLIGHT + 1), [r.text[:200] for r in responses]
        assert all(r.json()["faces"] for r in responses)
        gateway.process.popen.wait(timeout=EXIT_WITHIN_S)
        assert time.monotonic() - stopped_at < EXIT_WITHIN_S
        # uvicorn re-raises the signal it stopped for once it is done, so the exit status says SIGTERM.
        assert gateway.process.popen.returncode in (0, -signal.SIGTERM), gateway.process.log_tail()
        assert "Traceback" not in gateway.process.log_tail(100_000)
        deadline = time.monotonic() + 10
        while not all(_gone(w) for w in workers):
            assert time.monotonic() < deadline, f"detection workers outlived the gateway: {workers}"
            time.sleep(0.2)
        with pytest.raises(httpx.ConnectError):  # and nothing listens any more
            httpx.get(gateway.url + "/healthz", timeout=2)
    finally:
        gateway.stop()


def test_kubernetes_grace_period_covers_the_drain_and_the_in_flight_bound():
    """terminationGracePeriodSeconds must outlast SHUTDOWN_DRAIN_S plus uvicorn's graceful timeout,
    or Kubernetes kills the gateway with requests still in flight."""
    import re

    import yaml

    from harness.servers import REPO

    pod = next(d for d in yaml.safe_load_all((REPO / "deploy/k8s/gateway.yaml").read_text())
               if d and d["kind"] == "Deployment")["spec"]["template"]["spec"]
    drain = float(re.search(r"SHUTDOWN_DRAIN_S=(\d+)", (REPO / "deploy/k8s/kustomization.yaml").read_text()).group(1))
    graceful = float(re.search(r"--timeout-graceful-shutdown (\d+)", (REPO / "services/api/Dockerfile").read_text()).group(1))
    probe = pod["containers"][0]["readinessProbe"]
    assert drain >= probe["periodSeconds"] * probe["failureThreshold"], "the endpoint must be gone before the drain ends"
    assert pod["terminationGracePeriodSeconds"] > drain + graceful
