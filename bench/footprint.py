"""Footprint of the lean gateway (BACKEND=serving, no TensorFlow) against the full install.

    make bench-footprint

Prints the installed size of each virtual environment (`.venv`: the embedded gateway and the
trainer; `build/lean-venv`: requirements/lean-lock.txt) and the resident memory of each gateway
(all its processes: uvicorn and its detection workers), after start-up and after REQUESTS
requests on real scenes:
  - lean: build/lean-venv, BACKEND=serving against the TF Serving test double;
  - full, serving: .venv, BACKEND=serving against the same test double;
  - full, embedded: .venv, BACKEND=embedded (what `make run` starts).
Every gateway runs DETECT_WORKERS=1 so the rows compare like with like.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "services" / "contract"), str(REPO / "services" / "api")]

from harness.http import post_image  # noqa: E402
from harness.images import scene_png  # noqa: E402
from harness.servers import Gateway, launch_fake_serving, rss_mib, wait_grpc_ready  # noqa: E402

LEAN_PYTHON = REPO / "build" / "lean-venv" / "bin" / "python"
LEAN_PATH = os.pathsep.join(
    str(REPO / p) for p in ("services/contract", "services/api", "services/api/serving-protos")
)
SETTLE_S = 3.0


def installed_mib(venv: Path) -> float:
    out = subprocess.run(["du", "-sk", str(venv)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 1024


def measure(name: str, settings: dict[str, str], python: str, requests: int) -> dict:
    started = time.monotonic()
    gateway = Gateway.launch({"DETECT_WORKERS": "1", **settings}, python=python)
    try:
        gateway.wait()
        ready_s = time.monotonic() - started
        time.sleep(SETTLE_S)
        idle = rss_mib(gateway.process.popen.pid)
        for seed in range(requests):
            response = post_image(gateway.url, scene_png(seed))
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
        return {"name": name, "ready_s": ready_s, "idle_mib": idle, "busy_mib": rss_mib(gateway.process.popen.pid)}
    finally:
        gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    if not LEAN_PYTHON.exists():
        raise SystemExit("build/lean-venv missing: make lean")
    print(f"installed: .venv {installed_mib(REPO / '.venv'):.0f} MiB, "
          f"build/lean-venv {installed_mib(REPO / 'build' / 'lean-venv'):.0f} MiB")
    serving, port = launch_fake_serving()
    try:
        wait_grpc_ready(serving, port)
        address = {"BACKEND": "serving", "SERVING_ADDRESS": f"127.0.0.1:{port}"}
        rows = [
            measure("lean, serving", {**address, "PYTHONPATH": LEAN_PATH}, str(LEAN_PYTHON), args.requests),
            measure("full, serving", address, sys.executable, args.requests),
            measure("full, embedded", {"BACKEND": "embedded"}, sys.executable, args.requests),
        ]
    finally:
        serving.stop()
    print(f"{'gateway':16} {'ready (s)':>9} {'RSS idle (MiB)':>15} {'RSS after requests (MiB)':>25}")
    for row in rows:
        print(f"{row['name']:16} {row['ready_s']:9.1f} {row['idle_mib']:15.0f} {row['busy_mib']:25.0f}")


if __name__ == "__main__":
    main()
