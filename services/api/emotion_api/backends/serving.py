"""TensorFlow Serving over gRPC: PredictionService.Predict and GetModelMetadata, ModelService status.

One `grpc.aio` channel is opened at start and reused by every call. Each call carries a deadline
(SERVING_TIMEOUT_S) and the channel raises the message size limits, since a full batch of crops
can exceed gRPC's 4 MiB default. Tensors are packed by hand (shape + raw bytes), so the only
TensorFlow code this backend needs is generated protobuf modules: in the lean install they are
the copies in ``services/api/serving-protos`` (no TensorFlow at all); in the full install they
come from `tensorflow-serving-api`, whose import loads TensorFlow, so it happens off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from emotion_contract.signature import (
    INPUT_KEY,
    LABELS_KEY,
    METADATA_INPUT_KEY,
    METADATA_SIGNATURE,
    OUTPUT_KEY,
    SERVING_SIGNATURE,
)

from .. import metrics
from ..errors import ApiError, BackendUnavailable, ModelNotFound, Timeout
from ..rollout_state import RolloutWatcher, Target
from .base import Backend, ModelDescription, Prediction

log = logging.getLogger(__name__)

_AVAILABLE = 30  # tensorflow.serving.ModelVersionStatus.State.AVAILABLE
_END = 50  # ... END: unloaded, or (with an error in its status) failed to load


def _import_protos() -> dict[str, Any]:
    import grpc
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    return dict(
        grpc=grpc,
        tensor_pb2=tensor_pb2,
        tensor_shape_pb2=tensor_shape_pb2,
        types_pb2=types_pb2,
        get_model_metadata_pb2=get_model_metadata_pb2,
        get_model_status_pb2=get_model_status_pb2,
        model_pb2=model_pb2,
        model_service_pb2_grpc=model_service_pb2_grpc,
        predict_pb2=predict_pb2,
        prediction_service_pb2_grpc=prediction_service_pb2_grpc,
    )


class ServingBackend(Backend):
    name = "serving"
    max_concurrency = 4  # Serving batches and parallelises on its side

    def __init__(
        self, address: str, *, model_name: str, timeout_s: float, max_message_bytes: int, rollout: RolloutWatcher
    ) -> None:
        self.address = address
        self.model_name = model_name
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self.rollout = rollout
        self._pb: dict[str, Any] | None = None
        self._channel: Any = None
        self._predict_stub: Any = None
        self._model_stub: Any = None
        self._label_names: tuple[str, ...] | None = None
        self._input_shape: tuple[int, ...] | None = None
        self._versions: tuple[int, ...] = ()
        self._failed: set[int] = set()  # versions Serving reports as failed to load, logged once

    async def start(self) -> None:
        import grpc

        options = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            # Reconnect within seconds when Serving restarts, not after gRPC's 2-minute backoff.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        self._channel = grpc.aio.insecure_channel(self.address, options=options)
        # The protos import all of TensorFlow (seconds of CPU): only pay once Serving answers.
        await self._channel.channel_ready()
        pb = await asyncio.to_thread(_import_protos)
        self._predict_stub = pb["prediction_service_pb2_grpc"].PredictionServiceStub(self._channel)
        self._model_stub = pb["model_service_pb2_grpc"].ModelServiceStub(self._channel)
        self._pb = pb
        try:
            await self._load_metadata()
        except ApiError as exc:
            log.warning("TF Serving at %s not answering yet: %s", self.address, exc.message)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    # --- gRPC plumbing -------------------------------------------------------------------------

    def _spec(self, target: Target | None = None, signature: str = SERVING_SIGNATURE) -> Any:
        spec = self._pb["model_pb2"].ModelSpec(name=self.model_name, signature_name=signature)
        if target is not None and target.version is not None:
            spec.version.value = target.version
        elif target is not None and target.label is not None:
            spec.version_label = target.label
        return spec

    def _tensor(self, array: np.ndarray, dtype: int) -> Any:
        pb = self._pb
        shape = pb["tensor_shape_pb2"].TensorShapeProto(
            dim=[pb["tensor_shape_pb2"].TensorShapeProto.Dim(size=int(d)) for d in array.shape]
        )
        return pb["tensor_pb2"].TensorProto(dtype=dtype, tensor_shape=shape, tensor_content=array.tobytes())

    @staticmethod
    def _shape(proto: Any) -> tuple[int, ...]:
        return tuple(int(d.size) for d in proto.tensor_shape.dim)

    def _floats(self, proto: Any) -> np.ndarray:
        values = (
            np.frombuffer(proto.tensor_content, dtype=np.float32)
            if proto.tensor_content
            else np.asarray(proto.float_val, dtype=np.float32)
        )
        return values.reshape(self._shape(proto))

    async def _call(self, method: Any, request: Any, what: str) -> Any:
        if self._pb is None:
            raise BackendUnavailable(f"TF Serving at {self.address} is not reachable yet")
        grpc = self._pb["grpc"]
        try:
            return await method(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            spec = request.model_spec
            raise self._map_error(exc, what, pinned=spec.HasField("version") or bool(spec.version_label)) from exc

    def _map_error(self, exc: Any, what: str, *, pinned: bool) -> ApiError:
        code = exc.code()
        status = self._pb["grpc"].StatusCode
        details = exc.details() or code.name
        if code == status.NOT_FOUND or (code == status.INVALID_ARGUMENT and "label" in details.lower()):
            if pinned:
                return ModelNotFound(f"TF Serving has no such model version: {details}")
            # Asked for the newest (metadata, status, unpinned Predict), NOT_FOUND means Serving
            # has no version of the model available at all: every one failed to load, or none is
            # loaded yet. That is the backend's trouble, not a missing version.
            return BackendUnavailable(f"TF Serving has no available version of {self.model_name!r}: {details}")
        if code == status.DEADLINE_EXCEEDED:
            return Timeout(f"TF Serving did not answer {what} within {self.timeout_s:g}s")
        return BackendUnavailable(f"TF Serving {what} failed ({code.name}): {details}")

    # --- metadata ------------------------------------------------------------------------------

    async def _load_metadata(self) -> None:
        pb = self._pb
        request = pb["get_model_metadata_pb2"].GetModelMetadataRequest(
            model_spec=self._spec(), metadata_field=["signature_def"]
        )
        response = await self._call(self._predict_stub.GetModelMetadata, request, "GetModelMetadata")
        signature_map = pb["get_model_metadata_pb2"].SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        signature = signature_map.signature_def[SERVING_SIGNATURE]
        dims = signature.inputs[INPUT_KEY].tensor_shape.dim
        input_shape = tuple(int(d.size) for d in dims[1:])
        # Label names come from the model's `metadata` signature, through Predict like any client.
        labels_request = pb["predict_pb2"].PredictRequest(model_spec=self._spec(signature=METADATA_SIGNATURE))
        labels_request.inputs[METADATA_INPUT_KEY].CopyFrom(
            pb["tensor_pb2"].TensorProto(
                dtype=pb["types_pb2"].DT_STRING,
                tensor_shape=pb["tensor_shape_pb2"].TensorShapeProto(dim=[pb["tensor_shape_pb2"].TensorShapeProto.Dim(size=1)]),
                string_val=[b""],
            )
        )
        labels = await self._call(self._predict_stub.Predict, labels_request, "Predict(metadata)")
        self._label_names = tuple(v.decode() for v in labels.outputs[LABELS_KEY].string_val)
        self._input_shape = input_shape

    async def _available_versions(self) -> tuple[int, ...]:
        request = self._pb["get_model_status_pb2"].GetModelStatusRequest(model_spec=self._spec())
        response = await self._call(self._model_stub.GetModelStatus, request, "GetModelStatus")
        self._versions = tuple(sorted(s.version for s in response.model_version_status if s.state == _AVAILABLE))
        self._note_failed_loads(response.model_version_status)
        return self._versions

    def _note_failed_loads(self, statuses: Any) -> None:
        """A version Serving tried and failed to load (END with an error) is logged and counted
        once, as the embedded backend does with a folder it refuses. Serving keeps answering with
        the versions it has, and a request pinned to the failed one gets 404 (Predict: NOT_FOUND)."""
        failed = {s.version: s.status.error_message for s in statuses if s.state == _END and s.status.error_code}
        for version in sorted(failed.keys() - self._failed):
            metrics.MODEL_LOAD_FAILURES.inc()
            log.error("TF Serving failed to load %s version %d (%s); still serving %s", self.model_name, version,
                      failed[version] or "no message", list(self._versions) or "nothing")
        self._failed = set(failed)

    # --- Backend interface ---------------------------------------------------------------------

    async def predict(self, pixels: np.ndarray, target: Target) -> Prediction:
        pb = self._pb
        if pb is None:
            raise BackendUnavailable(f"TF Serving at {self.address} is not reachable yet")
        request = pb["predict_pb2"].PredictRequest(model_spec=self._spec(target), output_filter=[OUTPUT_KEY])
        request.inputs[INPUT_KEY].CopyFrom(self._tensor(np.ascontiguousarray(pixels, np.uint8), pb["types_pb2"].DT_UINT8))
        response = await self._call(self._predict_stub.Predict, request, "Predict")
        probabilities = self._floats(response.outputs[OUTPUT_KEY])
        if probabilities.shape[0] != len(pixels):
            raise BackendUnavailable(f"TF Serving returned {probabilities.shape[0]} rows for {len(pixels)} crops")
        return Prediction(probabilities, int(response.model_spec.version.value))

    def known_version(self, target: Target) -> int | None:
        if target.version is not None:
            return target.version
        state = self.rollout.current()
        if target.label is not None and state is not None and state.version_for(target.label) is not None:
            return state.version_for(target.label)
        return self._versions[-1] if self._versions else None

    async def describe(self) -> ModelDescription:
        if self._pb is None:
            raise BackendUnavailable(f"TF Serving at {self.address} is not reachable yet")
        # Status first: it tells "no version available" (and notes failed loads) before metadata,
        # which could only answer NOT_FOUND then.
        versions = await self._available_versions()
        if not versions:
            raise BackendUnavailable(f"TF Serving has no available version of {self.model_name!r}")
        if self._label_names is None or self._input_shape is None:
            await self._load_metadata()
        state = self.rollout.current()
        return ModelDescription(
            name=self.model_name,
            versions=versions,
            input_shape=self._input_shape,
            label_names=self._label_names,
            version_labels={
                "stable": state.stable if state and state.stable else versions[-1],
                "canary": state.canary if state else None,
            },
        )

    async def ready(self) -> bool:
        try:
            description = await self.describe()
        except ApiError:
            return False
        return bool(description.versions)
