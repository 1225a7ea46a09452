"""Fixtures for the rollout tool's tests: a throw-away model base, free ports, real server processes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from emotion_contract import layout

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models" / "emotion"
FER_DIR = Path(os.environ.get("FER2013_DIR", REPO.parent / "shared" / "datasets" / "fer2013"))
# This part's share of the project's port plan.
PORTS = range(18600, 18900)
PYTHONPATH = os.pathsep.join(str(REPO / p) for p in (".", "services/contract", "services/trainer", "services/api", "services/rollout"))


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


@pytest.fixture(scope="session")
def fer_dir() -> Path:
    if not (FER_DIR / "val").is_dir():
        pytest.fail(f"FER-2013 not found at {FER_DIR} (set FER2013_DIR)")
    return FER_DIR


def make_model_base(root: Path) -> Path:
    """Versions 1 and 2 (real copies of the newest shipped SavedModel: old folders get pruned),
    plus two half-written folders that nothing may ever load: a trainer staging folder and a
    version without saved_model.pb."""
    base = root / "emotion"
    base.mkdir(parents=True)
    source = MODELS / str(layout.newest_version(MODELS))
    for version in (1, 2):
        shutil.copytree(source, base / str(version))
    shutil.copytree(source, base / ".staging-abc123")
    shutil.copytree(source / "variables", base / "3" / "variables")
    return base


@pytest.fixture
def model_base(tmp_path) -> Path:
    return make_model_base(tmp_path / "models")


class Process:
    """A child process whose output goes to a file, shown when a test fails to start it."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        full_env = {**os.environ, "PYTHONPATH": PYTHONPATH, "TF_CPP_MIN_LOG_LEVEL": "2", **env}
        self.proc = subprocess.Popen(args, cwd=REPO, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.proc.args[:4]} exited with {self.proc.returncode}:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def wait_until(predicate, timeout_s: float, what: str, process: Process | None = None, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None:
            process.check_alive()
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"{what} not reached within {timeout_s:.0f}s" + (f":\n{process.output()}" if process else ""))


def start_fake_serving(model_config: Path, log_dir: Path) -> tuple[Process, str]:
    port = free_port()
    process = Process([sys.executable, "-m", "harness.fake_serving", "--port", str(port),
                       "--model-config-file", str(model_config)], {}, log_dir / "fake_serving.log")
    address = f"127.0.0.1:{port}"

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    wait_until(listening, 180, "fake Serving listening", process)
    return process, address


def start_gateway(env: dict[str, str], log_dir: Path) -> tuple[Process, str]:
    port = free_port()
    process = Process([sys.executable, "-m", "uvicorn", "emotion_api.main:app", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning"], env, log_dir / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 180, "gateway ready", process)
    return process, url
