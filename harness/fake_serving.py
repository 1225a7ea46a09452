"""TEST DOUBLE for TensorFlow Serving (which cannot run here): a real gRPC server speaking the
tensorflow-serving-api protos over the project's real SavedModels.

It implements what the gateway and the rollout tool use:
- PredictionService.Predict (ModelSpec name + version | version_label | latest, any signature)
  and PredictionService.GetModelMetadata (signature_def, read from saved_model.pb);
- ModelService.GetModelStatus and ModelService.HandleReloadConfigRequest, which applies a
  ModelServerConfig's version policy and version labels the way TF Serving does.
Errors use TF Serving's status codes: NOT_FOUND for an unknown model or version,
INVALID_ARGUMENT for an unknown version label, FAILED_PRECONDITION for a label on a version
that is not loaded.

A version that fails to load (a corrupt saved_model.pb) is handled the way TF Serving handles it:
logged, not retried while it stays wanted, reported by GetModelStatus as state END with the load
error in its status, answered NOT_FOUND like any version that is not loaded; and the versions
already serving stay loaded until a wanted version is (the availability-preserving policy).

Run: python -m harness.fake_serving --port 8500 --model-base-path models/emotion
     [--model-name emotion] [--model-config-file models.config] [--poll-s 1]
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from emotion_contract import layout, signature
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    status_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

log = logging.getLogger("fake_serving")

AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.State.END
UNKNOWN_ERROR = 2  # tensorflow.error.Code.UNKNOWN, as TF Serving reports a load that raised


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ModelStore:
    """The loaded versions of one model, its version policy and its version labels."""

    def __init__(self, name: str, base_path: Path) -> None:
        self.name = name
        self.base_path = Path(base_path)
        self.policy = model_server_config_pb2.ModelConfig().model_version_policy  # empty = latest 1
        self.labels: dict[str, int] = {}
        self.loaded: dict[int, object] = {}
        self.failed: dict[int, str] = {}  # wanted versions whose load failed: the error
        self._lock = threading.RLock()

    def _wanted(self) -> set[int]:
        on_disk = layout.complete_versions(self.base_path)  # what TF Serving's file-system source sees
        kind = self.policy.WhichOneof("policy_choice")
        if kind == "all":
            return set(on_disk)
        if kind == "specific":
            return set(self.policy.specific.versions) & set(on_disk)
        count = self.policy.latest.num_versions if kind == "latest" and self.policy.latest.num_versions else 1
        return set(on_disk[-count:])

    def sync(self) -> None:
        """Load wanted versions before unloading unwanted ones, as TF Serving does."""
        with self._lock:
            wanted = self._wanted()
            self.failed = {v: why for v, why in self.failed.items() if v in wanted}
            for version in sorted(wanted - self.loaded.keys() - self.failed.keys()):
                log.info("loading %s version %d", self.name, version)
                try:
                    self.loaded[version] = tf.saved_model.load(str(self.base_path / str(version)))
                except Exception as exc:  # noqa: BLE001 - whatever TensorFlow raises on a bad folder
                    self.failed[version] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    log.error("loading %s version %d failed: %s", self.name, version, self.failed[version])
            unwanted = sorted(v for v in set(self.loaded) - wanted if v not in self.labels.values())
            if wanted and not wanted & self.loaded.keys():
                # Availability preserving: with no wanted version serving, the newest one that
                # serves now stays loaded.
                unwanted = unwanted[:-1]
            for version in unwanted:
                log.info("unloading %s version %d", self.name, version)
                del self.loaded[version]

    def apply(self, config: model_server_config_pb2.ModelConfig) -> None:
        with self._lock:
            self.base_path = Path(config.base_path) if config.base_path else self.base_path
            self.policy = config.model_version_policy
            self.sync()
            labels = dict(config.version_labels)
            missing = {k: v for k, v in labels.items() if v not in self.loaded}
            if missing:
                raise _Abort(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"version labels point at versions that are not loaded: {missing}",
                )
            self.labels = labels

    def resolve(self, spec) -> tuple[int, object]:
        with self._lock:
            if spec.HasField("version"):
                version = spec.version.value
            elif spec.version_label:
                if spec.version_label not in self.labels:
                    raise _Abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"Unrecognized servable version label: {spec.version_label}",
                    )
                version = self.labels[spec.version_label]
            elif self.loaded:
                version = max(self.loaded)
            else:
                raise _Abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({self.name})")
            if version not in self.loaded:
                raise _Abort(
                    grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({self.name}, {version})"
                )
            return version, self.loaded[version]


class FakeTensorFlowServing(
    prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer
):
    """Test double for TF Serving's PredictionService and ModelService."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    def _model(self, spec, context) -> tuple[int, object]:
        if spec.name != self.store.name:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
        return self.store.resolve(spec)

    @staticmethod
    def _guard(handler):
        def wrapped(self, request, context):
            try:
                return handler(self, request, context)
            except _Abort as exc:
                context.abort(exc.code, exc.message)

        return wrapped

    @_guard
    def Predict(self, request, context):
        version, module = self._model(request.model_spec, context)
        signature_name = request.model_spec.signature_name or signature.SERVING_SIGNATURE
        if signature_name not in module.signatures:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Serving signature name: \"{signature_name}\" not found")
        fn = module.signatures[signature_name]
        inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        try:
            outputs = fn(**inputs)
        except (TypeError, ValueError, tf.errors.InvalidArgumentError) as exc:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.store.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = signature_name
        wanted = set(request.output_filter) or set(outputs)
        for key, value in outputs.items():
            if key in wanted:
                response.outputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value.numpy())))
        return response

    @_guard
    def GetModelMetadata(self, request, context):
        version, _ = self._model(request.model_spec, context)
        if list(request.metadata_field) != ["signature_def"]:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def is the only one supported")
        saved = saved_model_pb2.SavedModel.FromString(
            (self.store.base_path / str(version) / layout.SAVED_MODEL_FILE).read_bytes()
        )
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, value in saved.meta_graphs[0].signature_def.items():
            if not key.startswith("__"):
                signature_map.signature_def[key].CopyFrom(value)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.store.name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(signature_map)
        return response

    @_guard
    def GetModelStatus(self, request, context):
        spec = request.model_spec
        if spec.name != self.store.name:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        with self.store._lock:
            failed = dict(self.store.failed)
            versions = sorted(set(self.store.loaded) | set(failed))
            if spec.HasField("version"):
                versions = [v for v in versions if v == spec.version.value]
            elif spec.version_label:
                label = self.store.labels.get(spec.version_label)
                versions = [v for v in versions if v == label]
        if not versions:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Could not find version of model {spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in versions:
            if version in failed:
                status = status_pb2.StatusProto(error_code=UNKNOWN_ERROR, error_message=failed[version])
                response.model_version_status.add(version=version, state=END, status=status)
            else:
                response.model_version_status.add(version=version, state=AVAILABLE, status=status_pb2.StatusProto())
        return response

    @_guard
    def HandleReloadConfigRequest(self, request, context):
        configs = list(request.config.model_config_list.config)
        mine = [c for c in configs if c.name == self.store.name]
        if len(configs) != 1 or not mine:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"this test double serves exactly one model, {self.store.name!r}"
            )
        self.store.apply(mine[0])
        return model_management_pb2.ReloadConfigResponse(status=status_pb2.StatusProto(error_code=0))


def read_model_config(path: Path) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(Path(path).read_text(), model_server_config_pb2.ModelServerConfig())


def serve(
    port: int, model_name: str, base_path: Path, *, model_config_file: Path | None = None, host: str = "127.0.0.1"
) -> tuple[grpc.Server, ModelStore]:
    store = ModelStore(model_name, base_path)
    if model_config_file is not None:
        (config,) = read_model_config(model_config_file).model_config_list.config
        store.name = config.name
        store.apply(config)
    else:
        store.sync()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.so_reuseport", 0),  # fail on a taken port instead of silently sharing it
        ],
    )
    servicer = FakeTensorFlowServing(store)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, store


def main() -> None:
    parser = argparse.ArgumentParser(description="Test double for TensorFlow Serving (gRPC).")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-name", default="emotion")
    parser.add_argument("--model-base-path", type=Path, default=Path("models/emotion"))
    parser.add_argument("--model-config-file", type=Path)
    parser.add_argument("--poll-s", type=float, default=0.0, help="file-system poll for new versions; 0 = off")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fake_serving %(message)s")
    server, store = serve(
        args.port, args.model_name, args.model_base_path, model_config_file=args.model_config_file, host=args.host
    )
    log.info("serving %s versions %s on %s:%d", store.name, sorted(store.loaded), args.host, args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(args.poll_s or 3600):
        if args.poll_s:
            try:
                store.sync()
            except Exception:  # noqa: BLE001 - a half-written version must not kill the server
                log.exception("poll failed")
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
