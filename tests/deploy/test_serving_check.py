"""`make check-serving` tests the TensorFlow that the pinned TF Serving image embeds, and fails on a
version whose answers differ (the check itself runs in CI after `make test`: .ci/run)."""

from __future__ import annotations

import importlib.util
import re

import numpy as np

from tests.deploy.conftest import REPO

SERVING_TAGS = {
    "docker-compose.yml": r"tensorflow/serving:\$\{SERVING_TAG:-(\d+\.\d+\.\d+)-gpu\}",
    "docker-compose.cpu.yml": r"tensorflow/serving:\$\{SERVING_CPU_TAG:-(\d+\.\d+\.\d+)\}",
    "deploy/k8s/serving.yaml": r"tensorflow/serving:(\d+\.\d+\.\d+)-gpu",
}


def _check_module():
    spec = importlib.util.spec_from_file_location("check_serving", REPO / "scripts" / "check_serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_venv_pins_the_tensorflow_of_every_pinned_serving_image():
    pinned = re.search(r"^tensorflow-cpu==(\S+)$", (REPO / "requirements" / "serving-check.txt").read_text(), re.M)
    assert pinned, "requirements/serving-check.txt must pin tensorflow-cpu"
    for path, pattern in SERVING_TAGS.items():
        tags = re.findall(pattern, (REPO / path).read_text())
        assert tags and set(tags) == {pinned.group(1)}, (path, tags, pinned.group(1))


def test_a_changed_top1_or_a_failed_load_fails_the_check():
    check = _check_module()
    labels = {"labels": list(check.EMOTIONS)}
    probs = np.random.default_rng(0).dirichlet(np.ones(7), size=50).astype(np.float32)
    reference = ({"versions": {"9": labels}}, {"9": probs})
    assert check.compare(reference, ({"versions": {"9": labels}}, {"9": probs + 1e-7}))[1]
    flipped = probs.copy()
    flipped[0] = flipped[0][::-1] if flipped[0].argmax() != 3 else np.roll(flipped[0], 1)
    rows, ok = check.compare(reference, ({"versions": {"9": labels}}, {"9": flipped}))
    assert not ok and rows[0]["top1_agreement"] == 49 / 50
    rows, ok = check.compare(reference, ({"versions": {"9": {"error": "Op type not registered"}}}, {}))
    assert not ok and "not registered" in rows[0]["error"]
