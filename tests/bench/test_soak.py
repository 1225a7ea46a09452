"""A short load run of the soak benchmark: every request answered, no 5xx, and no upload written
anywhere (the gateway's working directory and temp dir gain no files)."""

from __future__ import annotations

import importlib.util
from collections import Counter

import pytest

from harness.servers import REPO


def _soak():
    spec = importlib.util.spec_from_file_location("soak", REPO / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_load_run_answers_everything_and_writes_nothing():
    results, samples, left = _soak().run(clients=8, seconds=10)
    statuses = Counter(r[1] for r in results)
    assert results and all(isinstance(s, int) for s in statuses), statuses  # no connection error or lost response
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[200] and (statuses[400] or statuses[404]), statuses  # the mix reached both paths
    assert samples and all(m > 0 for _, m in samples)
    assert left == set(), left
