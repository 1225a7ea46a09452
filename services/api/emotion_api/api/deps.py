"""Dependencies shared by the routes, declared once as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from .. import metrics
from ..errors import RateLimited
from ..runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_access(request: Request, response: Response, runtime: RuntimeDep) -> str:
    """Authenticate (when API keys are configured), then count the call against the caller's quota.

    Returns the caller's identity: a digest of its API key, else its address.
    """
    address = request.client.host if request.client else "unknown"
    identity = await runtime.key_guard.check(request.headers, address)
    if identity is None:
        identity = "addr:" + address
    limiter = runtime.rate_limiter
    if limiter is not None:
        decision = await limiter.hit(identity)
        if not decision.allowed:
            metrics.RATE_LIMITED.inc()
            raise RateLimited(
                f"rate limit of {runtime.settings.rate_limit} exceeded; retry in {decision.reset_after_s}s",
                headers=decision.headers(),
            )
        response.headers.update(decision.headers())
    return identity
