"""Per-client request quotas: in memory by default, shared through Redis when REDIS_URL is set.

Fixed windows from the `limits` library: one counter per client and window, so a Redis-backed
gateway fleet shares the quota. Responses carry the IETF `RateLimit-Policy` / `RateLimit`
headers; a refusal adds `Retry-After`. If Redis is unreachable the limiter lets requests through
(logged): an outage of the quota store must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from .core.config import Settings

log = logging.getLogger(__name__)

POLICY = "default"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after_s: int  # seconds until the window resets
    window_s: int
    policy: str = POLICY

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Policy": f'"{self.policy}";q={self.limit};w={self.window_s}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_after_s}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_after_s))
        return headers


class RateLimiter:
    def __init__(self, item: RateLimitItem, storage: Storage, policy: str = POLICY) -> None:
        self.item = item
        self.storage = storage
        self.policy = policy
        self._strategy = FixedWindowRateLimiter(storage)

    @property
    def backend(self) -> str:
        return "memory" if isinstance(self.storage, MemoryStorage) else "redis"

    async def hit(self, identity: str) -> RateDecision | None:
        """Count one request for ``identity``; None when the quota store is unreachable."""
        return await self._decide(identity, count=True)

    async def peek(self, identity: str) -> RateDecision | None:
        """Whether one more request of ``identity`` would be allowed, without counting it."""
        return await self._decide(identity, count=False)

    async def _decide(self, identity: str, *, count: bool) -> RateDecision | None:
        strategy = self._strategy
        try:
            allowed = await (strategy.hit if count else strategy.test)(self.item, identity)
            stats = await strategy.get_window_stats(self.item, identity)
        except Exception as exc:  # noqa: BLE001 - fail open, see module docstring
            log.warning("rate limiter (%s) unavailable, letting the request through: %s", self.backend, exc)
            return None
        return RateDecision(
            allowed=allowed,
            limit=self.item.amount,
            remaining=max(0, stats.remaining),
            reset_after_s=max(0, math.ceil(stats.reset_time - time.time())),
            window_s=self.item.get_expiry(),
            policy=self.policy,
        )

    async def close(self) -> None:
        # `limits` storages expose no close(); Redis connections go with the process.
        return None


def _storage(settings: Settings) -> Storage:
    if settings.redis_url:
        return storage_from_string(f"async+{settings.redis_url}", implementation="redispy")
    return MemoryStorage()


def make_rate_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.rate_limit:
        return None
    return RateLimiter(parse(settings.rate_limit), _storage(settings))


def make_auth_failure_limiter(settings: Settings) -> RateLimiter | None:
    """Failed API-key attempts per client address (only when keys are configured).

    Shared through Redis like the request quota when REDIS_URL is set, so a fleet of gateways
    cannot be used to multiply the guessing rate.
    """
    if not settings.api_keys:
        return None
    return RateLimiter(parse(settings.auth_failure_limit), _storage(settings), policy="auth-failures")
