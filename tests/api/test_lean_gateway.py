"""The lean gateway (BACKEND=serving without TensorFlow), run from its own venv (`make lean`,
requirements/lean-lock.txt) against the TF Serving test double over a real gRPC channel."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.http import get, post_image
from harness.images import encode, scene_png, val_faces
from harness.servers import REPO, Gateway, process_tree

LEAN_PYTHON = REPO / "build" / "lean-venv" / "bin" / "python"
PROTOS = REPO / "services" / "api" / "serving-protos"
LEAN_PATH = os.pathsep.join(str(p) for p in (REPO / "services" / "contract", REPO / "services" / "api", PROTOS))
# Shared objects that only an install of TensorFlow (or of the mtcnn package through it) ships.
TENSORFLOW_LIBRARIES = ("libtensorflow", "_pywrap_tensorflow", "libtensorflow_framework")


def _vendor_script():
    spec = importlib.util.spec_from_file_location("vendor_serving_protos", REPO / "scripts" / "vendor_serving_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name, version = line.split("==")
            pins[name.split("[")[0].lower().replace("_", "-")] = version
    return pins


def _require_lean_venv() -> None:
    if not LEAN_PYTHON.exists():
        pytest.fail(f"{LEAN_PYTHON} missing: `make lean` builds it (`make test` does so first)")


def _lean(code: str) -> subprocess.CompletedProcess:
    _require_lean_venv()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": LEAN_PATH}
    return subprocess.run([str(LEAN_PYTHON), "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_every_lean_pin_is_the_main_locks_pin():
    lean, main = _pins(REPO / "requirements" / "lean-lock.txt"), _pins(REPO / "requirements" / "lock.txt")
    assert {name: (version, main.get(name)) for name, version in lean.items() if main.get(name) != version} == {}
    assert not {"tensorflow", "tensorflow-cpu", "tensorflow-serving-api", "keras", "mtcnn"} & set(lean)


def test_vendored_protos_are_the_pinned_wheels_own_modules():
    vendor = _vendor_script()
    modules = vendor.closure()
    vendored = {p.relative_to(PROTOS) for p in PROTOS.rglob("*_pb2*.py")}
    assert vendored == {vendor.relative(m) for m in modules}, "rerun scripts/vendor_serving_protos.py"
    for module, installed in modules.items():
        assert (PROTOS / vendor.relative(module)).read_bytes() == installed.read_bytes(), module
    assert (PROTOS / "PINS.txt").read_text() == vendor.pins(), "pins moved: rerun scripts/vendor_serving_protos.py"


def test_lean_venv_cannot_import_tensorflow_but_has_the_serving_protos():
    result = _lean(
        "import importlib.metadata as md, importlib.util as u, json\n"
        "import tensorflow_serving.apis.predict_pb2, tensorflow_serving.apis.prediction_service_pb2_grpc\n"
        "import tensorflow\n"
        "names = {d.metadata['Name'].lower() for d in md.distributions()}\n"
        "print(json.dumps({'dists': sorted(names & {'tensorflow', 'tensorflow-cpu', 'keras', 'mtcnn', 'onnx',"
        " 'tensorflow-serving-api'}), 'python_pkg': u.find_spec('tensorflow.python') is not None,"
        " 'tf_file': getattr(tensorflow, '__file__', None), 'has_constant': hasattr(tensorflow, 'constant')}))\n"
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # `tensorflow` resolves only as the namespace the vendored protos live in: no code, no library.
    assert found == {"dists": [], "python_pkg": False, "tf_file": None, "has_constant": False}


@pytest.fixture(scope="module")
def lean_gateway(fake_serving):
    _require_lean_venv()
    _, port = fake_serving
    gateway = Gateway.launch(
        {"BACKEND": "serving", "SERVING_ADDRESS": f"127.0.0.1:{port}", "PYTHONPATH": LEAN_PATH,
         "DETECT_WORKERS": "1"},
        python=str(LEAN_PYTHON),
    )
    try:
        yield gateway.wait()
    finally:
        gateway.stop()


def test_lean_gateway_answers_as_the_embedded_one(lean_gateway, gateway):
    images = [scene_png(3)] + [encode(face) for _, face in val_faces(per_class=1)[:2]]
    params = [{}] + [{"detect": "false"}] * 2
    for data, query in zip(images, params, strict=True):
        lean = post_image(lean_gateway.url, data, params=query)
        assert lean.status_code == 200, lean.text
        embedded = post_image(gateway.url, data, params=query).json()
        lean = lean.json()
        assert lean["model"] == embedded["model"]
        assert len(lean["faces"]) == len(embedded["faces"]) > 0
        for a, b in zip(embedded["faces"], lean["faces"], strict=True):
            assert a["box"] == b["box"] and a["emotion"] == b["emotion"]
            assert b["scores"] == pytest.approx(a["scores"], abs=1e-5)
    assert get(f"{lean_gateway.url}/v1/models").json()["backend"] == "serving"


def test_no_lean_gateway_process_maps_tensorflow(lean_gateway):
    post_image(lean_gateway.url, scene_png(5))  # detection workers are up and have run
    members = process_tree(lean_gateway.process.popen.pid)
    assert len(members) >= 2, "expected the gateway and its detection worker"
    for pid in members:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert not [lib for lib in TENSORFLOW_LIBRARIES if lib in maps], pid
        # Every process (workers too) runs the lean venv's interpreter, not this one's.
        assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == bytes(LEAN_PYTHON), pid
