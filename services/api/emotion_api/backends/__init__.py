"""Inference backends behind one small interface; `make_backend` picks one from the settings."""

from __future__ import annotations

from ..core.config import Settings
from ..rollout_state import RolloutWatcher
from .base import Backend, ModelDescription, Prediction


def make_backend(settings: Settings, rollout: RolloutWatcher) -> Backend:
    # Imported here so that choosing one backend never pays for the other's imports.
    if settings.resolved_backend == "serving":
        from .serving import ServingBackend

        assert settings.serving_address is not None
        return ServingBackend(
            settings.serving_address,
            model_name=settings.model_name,
            timeout_s=settings.serving_timeout_s,
            max_message_bytes=settings.serving_max_message_bytes,
            rollout=rollout,
        )
    from .embedded import EmbeddedBackend

    return EmbeddedBackend(
        settings.model_base_path,
        model_name=settings.model_name,
        rollout=rollout,
        poll_s=settings.model_poll_s,
        intra_op_threads=settings.embedded_intra_op_threads,
        runtime=settings.embedded_runtime,
    )


__all__ = ["Backend", "ModelDescription", "Prediction", "make_backend"]
