"""Copy the generated protobuf modules the gateway's Serving backend needs into
``services/api/serving-protos/``, from the pinned ``tensorflow`` and ``tensorflow-serving-api``
installed in this venv, so the lean gateway talks gRPC to TF Serving without TensorFlow.

Why copies of the wheels' own ``_pb2`` modules rather than regenerating with grpcio-tools: the
files are then byte-for-byte what the pinned packages ship (same protoc, same runtime-version
check), the ``.proto`` sources need not be fetched from two repositories at matching tags, and
``tests/api/test_lean_gateway.py`` fails as soon as a pin moves and the copies differ. Rerun
this script (``make vendor-serving-protos``) after bumping either pin.

The set is the import closure of ``ROOTS``, found by reading each module's imports, so
nothing TensorFlow's own ``__init__`` drags in is copied.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "services" / "api" / "serving-protos"
ROOTS = (
    "tensorflow.core.framework.tensor_pb2",
    "tensorflow.core.framework.tensor_shape_pb2",
    "tensorflow.core.framework.types_pb2",
    "tensorflow_serving.apis.get_model_metadata_pb2",
    "tensorflow_serving.apis.get_model_status_pb2",
    "tensorflow_serving.apis.model_pb2",
    "tensorflow_serving.apis.model_service_pb2_grpc",
    "tensorflow_serving.apis.predict_pb2",
    "tensorflow_serving.apis.prediction_service_pb2_grpc",
)
PACKAGES = ("tensorflow", "tensorflow-serving-api", "protobuf")
PREFIXES = ("tensorflow.", "tensorflow_serving.")


def source_file(module: str) -> Path:
    """Where the installed module's file is, found without importing it (importing a TensorFlow
    submodule would run TensorFlow's ``__init__``)."""
    parts = module.split(".")
    for entry in map(Path, sys.path):
        candidate = entry.joinpath(*parts).with_suffix(".py")
        if candidate.is_file():
            return candidate
    raise ModuleNotFoundError(module)


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIXES):
            # "from pkg import x_pb2" names a module; "from pkg.x_pb2 import *" (a proto's public
            # import) names the module itself.
            found.update(node.module if a.name == "*" else f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(PREFIXES))
    return found


def closure(roots=ROOTS) -> dict[str, Path]:
    todo, done = list(roots), {}
    while todo:
        module = todo.pop()
        if module in done:
            continue
        done[module] = source_file(module)
        todo.extend(imports_of(done[module]) - set(done))
    return dict(sorted(done.items()))


def relative(module: str) -> Path:
    return Path(*module.split(".")).with_suffix(".py")


def pins() -> str:
    return "".join(f"{name}=={importlib.metadata.version(name)}\n" for name in PACKAGES)


def main() -> None:
    modules = closure()
    if TARGET.exists():
        shutil.rmtree(TARGET)
    for module, path in modules.items():
        dest = TARGET / relative(module)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    # tensorflow_serving is a regular package in its wheel (empty __init__ files); tensorflow is
    # left a namespace package on purpose, so no TensorFlow code exists here to import.
    for package in {p for m in modules if m.startswith("tensorflow_serving.") for p in _parents(m)}:
        (TARGET / Path(*package.split(".")) / "__init__.py").touch()
    (TARGET / "PINS.txt").write_text(pins())
    print(f"{len(modules)} modules from {pins().strip().replace(chr(10), ', ')} -> {TARGET.relative_to(ROOT)}")


def _parents(module: str):
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


if __name__ == "__main__":
    main()
