"""Who is calling, may they, and is the call within their quota: one path for REST and the stream.

- ``identify``: authenticates the caller (when API_KEYS is set, ``auth.KeyGuard``: a missing or
  wrong key is Unauthorized, an address throttled for failed attempts is RateLimited) and names
  it: a digest of its key, else ``addr:<client address>``.
- ``charge``: counts one call (a request, or a stream frame) against that identity's quota
  (RATE_LIMIT); over it, the refusal is RateLimited with Retry-After and RateLimit headers.

``api/deps.py`` (REST) and ``api/routes/stream.py`` (WebSocket) both call these; only how each
transport presents the key differs, and that stays with the transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import metrics
from .errors import RateLimited

if TYPE_CHECKING:
    from starlette.datastructures import Address

    from .runtime import Runtime


def client_address(client: Address | None) -> str:
    return client.host if client else "unknown"


async def identify(runtime: Runtime, headers: Mapping[str, str], address: str) -> str:
    """The caller's identity; raises Unauthorized or RateLimited."""
    identity = await runtime.key_guard.check(headers, address)
    return identity if identity is not None else "addr:" + address


async def charge(runtime: Runtime, identity: str) -> dict[str, str]:
    """Counts one call against ``identity``'s quota and returns the RateLimit headers to send
    (none without RATE_LIMIT); raises RateLimited when the quota is spent."""
    limiter = runtime.rate_limiter
    if limiter is None:
        return {}
    decision = await limiter.hit(identity)
    if not decision.allowed:
        metrics.RATE_LIMITED.inc()
        raise RateLimited(
            f"rate limit of {runtime.settings.rate_limit} exceeded; retry in {decision.reset_after_s}s",
            headers=decision.headers(),
        )
    return decision.headers()
