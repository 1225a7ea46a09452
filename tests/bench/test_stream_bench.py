"""The stream benchmark still runs end to end (its figures are for people, not for asserts)."""

from __future__ import annotations

import re
import subprocess
import sys

from harness.servers import REPO, python_env


def test_stream_bench_prints_a_row_per_setting():
    args = ["--clips", "1", "--frames", "12", "--every", "1,4"]
    result = subprocess.run([sys.executable, str(REPO / "bench" / "stream_bench.py"), *args], env=python_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    number = r"(\d+\.\d+)"
    rows = {int(m[1]): m for m in re.finditer(
        rf"^ +(\d+) +{number} +{number} +\d+/\d+ +{number} +{number} +{number} +{number} +{number}$",
        result.stdout, re.M)}
    assert set(rows) == {1, 4}, result.stdout
    whole, regions = rows[1], rows[4]
    assert float(whole[6]) == 1.0 and float(whole[7]) == 0.0  # the reference searches every frame whole
    assert float(regions[7]) > 0 and float(regions[8]) < 1.0  # the other searched regions, and less area
