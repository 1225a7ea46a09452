"""Real processes for tests: the gateway under uvicorn, the TF Serving test double, redis-server
and Prometheus, each on a free loopback port, stopped (by pid) when the test session ends."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = REPO / "models" / "emotion"
PORT_RANGE = (18000, 18499)  # the gateway tests' share of loopback ports
_taken: set[int] = set()


def free_port(lo: int = PORT_RANGE[0], hi: int = PORT_RANGE[1]) -> int:
    """A loopback port in [lo, hi] that nothing listens on and this session has not handed out.

    Ports are tried in random order: other test sessions on the machine draw from the same range,
    and a fixed order would make them collide on the first port. A collision can still happen
    (check-then-bind), which is why the waits below check who actually owns the port.
    """
    ports = list(range(lo, hi + 1))
    random.shuffle(ports)
    for port in ports:
        if port in _taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError(f"no free port in {lo}-{hi}")


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(fields[9])
    return inodes


def owns_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the listening socket of loopback ``port``.

    (`nice` execs its command, so the Popen pid is the server process itself.)
    """
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    try:
        return bool(wanted) and any(os.readlink(fd) in wanted for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # the process is gone or an fd closed while we looked
        return False


def child_pids(pid: int) -> set[int]:
    """The live children of process ``pid`` (none if it is gone), from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.update(int(child) for child in task.read_text().split())
        except OSError:  # the thread ended while we looked
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants: the gateway and its face-detection worker processes."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(child_pids(current))
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of the gateway and its workers, summed (shared pages count once per process,
    so this overstates what the processes take together)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError):  # a worker that exited meanwhile
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def python_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: PYTHONPATH set, and none of the gateway's settings inherited."""
    from emotion_api.core.config import Settings

    own = {name.upper() for name in Settings.model_fields} | {"PORT", "HOST"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in own}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "services" / s) for s in ("contract", "trainer", "api", "rollout")] + [str(REPO)]
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra or {})
    return env


@dataclass
class Process:
    """A child process whose output goes to a log file (read back when it fails)."""

    name: str
    args: list[str]
    env: dict[str, str] | None = None
    cwd: Path = REPO
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="proc-", suffix=".log")[1]))
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            ["nice", "-n", "19", *self.args], cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def terminate(self) -> None:
        """Ask the process to stop without waiting (stop several at once, then `stop` each)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def fail(self, why: str) -> RuntimeError:
        return RuntimeError(f"{self.name}: {why}\n--- log tail ---\n{self.log_tail()}")


@dataclass
class Gateway:
    """The gateway under uvicorn on 127.0.0.1:port."""

    port: int
    env: dict[str, str]
    process: Process | None = None
    python: str = sys.executable  # another venv's interpreter runs that install (the lean gateway)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _process(port: int, env: dict[str, str], python: str = sys.executable) -> Process:
        args = [python, "-m", "uvicorn", "emotion_api.main:app", "--host", "127.0.0.1", "--port", str(port)]
        return Process(f"gateway:{port}", [*args, "--no-server-header", "--log-level", "warning"], env)

    @classmethod
    def launch(
        cls, settings: Mapping[str, str] | None = None, *, port: int | None = None, python: str = sys.executable
    ) -> Gateway:
        port = port or free_port()
        env = python_env({"LOG_LEVEL": "warning", "MODEL_BASE_PATH": str(MODEL_DIR), **(settings or {})})
        gateway = cls(port, env, cls._process(port, env, python), python)
        gateway.process.start()
        return gateway

    def wait(self, path: str = "/readyz", timeout_s: float = 180.0) -> Gateway:
        """Block until ``path`` answers 200 (readiness by default) from our own process.

        If another session took the port first, the child dies on bind: relaunch on a new port.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.alive():
                if "address already in use" in self.process.log_tail().lower():
                    self.port = free_port()
                    self.process = self._process(self.port, self.env, self.python).start()
                    continue
                raise self.process.fail("exited before it was ready")
            try:
                ok = httpx.get(self.url + path, timeout=2.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok and owns_port(self.process.popen.pid, self.port):
                return self
            time.sleep(0.25)
        raise self.process.fail(f"{path} not 200 within {timeout_s:.0f}s")

    def terminate(self) -> None:
        if self.process:
            self.process.terminate()

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def launch_fake_serving(model_base_path: Path = MODEL_DIR, *, port: int | None = None, extra: list[str] | None = None) -> tuple[Process, int]:
    port = port or free_port()
    args = [sys.executable, "-m", "harness.fake_serving", "--port", str(port), "--model-base-path", str(model_base_path)]
    return Process(f"fake-serving:{port}", [*args, *(extra or [])], python_env()).start(), port


def wait_grpc_ready(process: Process, port: int, timeout_s: float = 180.0) -> None:
    import grpc

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            raise process.fail("exited before it was ready")
        if owns_port(process.popen.pid, port):
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=1.0)
                    return
                except grpc.FutureTimeoutError:
                    pass
        time.sleep(0.25)
    raise process.fail(f"gRPC port {port} not ready within {timeout_s:.0f}s")


def wait_port(process: Process, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process.alive():
            raise process.fail("exited before it listened")
        if owns_port(process.popen.pid, port):
            return
        time.sleep(0.1)
    raise process.fail(f"port {port} not listening within {timeout_s:.0f}s")


def launch_redis(workdir: Path) -> tuple[Process, int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (make system-deps)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    process = Process(f"redis:{port}", args).start()
    wait_port(process, port)
    return process, port


def launch_prometheus(workdir: Path, scrape_port: int) -> tuple[Process, int]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is not installed (make system-deps)")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: emotion-gateway\n    scrape_interval: 1s\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{scrape_port}']\n"
    )
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    process = Process(f"prometheus:{port}", args).start()
    wait_port(process, port)
    return process, port
