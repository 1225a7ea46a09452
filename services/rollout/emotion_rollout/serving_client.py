"""The two ModelService calls a rollout needs: reload the config, and read version states."""

from __future__ import annotations

import time

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_management_pb2, model_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2 as msc

from .errors import ServingError

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END


class ServingClient:
    def __init__(self, address: str, rpc_timeout_s: float = 30.0):
        self._channel = grpc.insecure_channel(address)
        self._stub = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._timeout = rpc_timeout_s
        self.address = address

    def close(self) -> None:
        self._channel.close()

    def reload(self, config: msc.ModelServerConfig) -> None:
        request = model_management_pb2.ReloadConfigRequest(config=config)
        try:
            response = self._stub.HandleReloadConfigRequest(request, timeout=self._timeout)
        except grpc.RpcError as err:
            raise ServingError(f"reload at {self.address} failed: {err.code().name}: {err.details()}") from err
        if response.status.error_code != 0:
            raise ServingError(f"Serving refused the config: {response.status.error_message}")

    def version_states(self, model: str) -> dict[int, get_model_status_pb2.ModelVersionStatus]:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        try:
            response = self._stub.GetModelStatus(request, timeout=self._timeout)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return {}
            raise ServingError(f"status at {self.address} failed: {err.code().name}: {err.details()}") from err
        return {s.version: s for s in response.model_version_status}

    def wait_available(self, model: str, versions: set[int], timeout_s: float, poll_s: float = 0.25) -> None:
        """Blocks until every version is AVAILABLE; fails fast on a version that ended (failed to load)."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.version_states(model)
            pending = {v for v in versions if v not in states or states[v].state != AVAILABLE}
            if not pending:
                return
            # END with an error is a failed load; END without one is a version unloaded earlier
            # that Serving has not yet picked up again.
            failed = [f"version {v}: {states[v].status.error_message}" for v in sorted(pending)
                      if v in states and states[v].state == END and states[v].status.error_code != 0]
            if failed:
                raise ServingError(f"TF Serving failed to load {model} {'; '.join(failed)}")
            if time.monotonic() > deadline:
                raise ServingError(f"version(s) {sorted(pending)} of {model} not AVAILABLE after {timeout_s:.0f}s")
            time.sleep(poll_s)
