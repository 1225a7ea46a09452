"""API keys: when API_KEYS is set, every /v1 call must carry one of them.

Accepted as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Every configured key is compared
with `hmac.compare_digest` (no early exit), so timing reveals neither which key nor how much of
it matched. Callers are identified by a digest of their key, so raw keys never reach logs,
metrics or the rate-limit store.

Failed attempts are counted per client address (AUTH_FAILURE_LIMIT, e.g. 10/minute); an address
over that limit gets 429 rate_limited for every /v1 call until the window ends, even with a valid
key, so keys cannot be guessed at speed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from . import metrics
from .errors import RateLimited, Unauthorized
from .ratelimit import RateLimiter


def presented_key(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def key_identity(key: str) -> str:
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def authenticate(headers: Mapping[str, str], keys: tuple[SecretStr, ...]) -> str | None:
    """The caller's identity when keys are configured (raises Unauthorized), else None."""
    if not keys:
        return None
    key = presented_key(headers)
    if key is None:
        metrics.AUTH_FAILURES.inc()
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    offered = key.encode()
    matched = False
    for candidate in keys:
        matched |= hmac.compare_digest(offered, candidate.get_secret_value().encode())
    if not matched:
        metrics.AUTH_FAILURES.inc()
        raise Unauthorized("the API key is not valid")
    return key_identity(key)


class KeyGuard:
    """``authenticate`` behind a per-address limit on failed attempts."""

    def __init__(self, keys: tuple[SecretStr, ...], failures: RateLimiter | None) -> None:
        self.keys = keys
        self.failures = failures

    async def check(self, headers: Mapping[str, str], address: str) -> str | None:
        """The caller's identity (None when no keys are configured); raises Unauthorized or RateLimited."""
        if self.failures is None:
            return authenticate(headers, self.keys)
        where = "addr:" + address
        # Checked before the key is looked at: once throttled, a right guess teaches nothing.
        decision = await self.failures.peek(where)
        if not decision.allowed:
            metrics.AUTH_THROTTLED.inc()
            raise RateLimited(
                f"too many failed API-key attempts from this address; retry in {decision.reset_after_s}s",
                headers=decision.headers(),
            )
        try:
            return authenticate(headers, self.keys)
        except Unauthorized:
            await self.failures.hit(where)
            raise
