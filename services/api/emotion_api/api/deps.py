"""Dependencies shared by the routes, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from .. import access
from ..runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_access(request: Request, response: Response, runtime: RuntimeDep) -> str:
    """Authenticate (when API keys are configured), then count the call against the caller's quota
    (``access.py``, shared with the stream). Returns the caller's identity."""
    identity = await access.identify(runtime, request.headers, access.client_address(request.client))
    response.headers.update(await access.charge(runtime, identity))
    return identity
