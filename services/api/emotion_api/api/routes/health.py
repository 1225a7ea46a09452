"""Liveness (/healthz: the process answers) and readiness (/readyz: a model answers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ...errors import ShuttingDown, error_response
from ..deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "backend_unavailable, or shutting_down after SIGTERM"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    if runtime.drain.draining:
        return error_response(ShuttingDown.status, ShuttingDown.code,
                              "the gateway is shutting down; requests in flight still complete")
    try:
        async with asyncio.timeout(2.0):
            ready = await runtime.backend.ready()
            description = await runtime.backend.describe() if ready else None
    except Exception:  # noqa: BLE001 - any failure to answer is "not ready"
        ready, description = False, None
    if not ready or description is None:
        return error_response(503, "backend_unavailable", f"the {runtime.backend.name} backend is not ready")
    return JSONResponse(
        {"status": "ready", "backend": runtime.backend.name, "model": description.name, "versions": list(description.versions)}
    )
