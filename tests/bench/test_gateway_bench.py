"""The gateway benchmark still runs end to end (its figures are for people, not for asserts)."""

from __future__ import annotations

import re
import subprocess
import sys

from harness.servers import REPO, python_env


def run_bench(*args: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / "bench" / "gateway_bench.py"), *args], env=python_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_gateway_bench_runs_and_prints_every_figure():
    out = run_bench("--scenes", "3", "--seconds", "1", "--latency-requests", "3", "--rounds", "1", "--quality-scenes", "2")
    assert re.search(r"gateway quality: recall [01]\.\d+", out), out
    assert re.search(r"gateway quality on 2 more scenes: recall [01]\.\d+ .*\(\d+ faces\)", out), out
    assert re.search(r"latency @ concurrency 1 \(3 requests\): p50 \d+\.\d ms", out), out
    for concurrency in (1, 8, 32):
        level = re.search(rf"throughput @ concurrency +{concurrency}: +(\d+\.\d) images/s.*mean batch size (\d+\.\d+)", out)
        assert level and float(level[1]) > 0 and float(level[2]) >= 1, out
    assert re.search(r"CPU per request: gateway \d+\.\d ms   bench client \d+\.\d ms   gateway cores busy \d\.\d\d", out), out
    assert re.search(r"per request: decode \d+\.\d ms   detect\+crop \d+\.\d ms   batch wait \d+\.\d ms   model \d+\.\d ms", out), out
    assert re.search(r"gateway RSS: \d+ MiB", out), out
    # fer lives in its own venv, which `make bench` builds and `make test` does not.
    assert "fer: NOT AVAILABLE" in out or re.search(r"median \d+\.\d\dx", out), out


def test_quality_only_measures_recall_and_accuracy_without_timing():
    out = run_bench("--scenes", "3", "--quality-scenes", "2", "--quality-only", "--set", "EMBEDDED_RUNTIME=savedmodel")
    assert re.search(r"gateway quality: recall [01]\.\d+ .*end-to-end accuracy [01]\.\d+ \(\d+ faces\)", out), out
    assert re.search(r"gateway quality on 2 more scenes: recall [01]\.\d+ .*\(\d+ faces\)", out), out
    assert "throughput" not in out and "fer" not in out, out
