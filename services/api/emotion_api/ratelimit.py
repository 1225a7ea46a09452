"""Per-client request quotas: in memory by default, shared through Redis when REDIS_URL is set.

Fixed windows from the `limits` library: one counter per client and window, so a Redis-backed
gateway fleet shares the quota. Responses carry the IETF `RateLimit-Policy` / `RateLimit`
headers; a refusal adds `Retry-After`.

If Redis is unreachable, each replica falls back to its own in-memory counters: the quota still
holds per replica (a fleet of N lets through at most N times the limit), an outage of the quota
store neither takes the API down nor opens it to unlimited traffic. The fallback is logged once
when it starts and once when Redis answers again, and `emotion_rate_limit_degraded` is 1 while it
lasts. Redis is retried at most every REDIS_RETRY_S, so an outage does not add a connection
attempt to every request.
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

from . import metrics
from .core.config import Settings

log = logging.getLogger(__name__)

POLICY = "default"
REDIS_RETRY_S = 2.0


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
    def __init__(self, item: RateLimitItem, storage: Storage, policy: str = POLICY,
                 retry_s: float = REDIS_RETRY_S) -> None:
        self.item = item
        self.storage = storage
        self.policy = policy
        self.retry_s = retry_s
        self._strategy = FixedWindowRateLimiter(storage)
        # Per-replica counters used only while the shared store is unreachable.
        self._fallback = None if isinstance(storage, MemoryStorage) else FixedWindowRateLimiter(MemoryStorage())
        self._down_until: float | None = None  # monotonic time before which the store is not retried

    @property
    def backend(self) -> str:
        return "memory" if isinstance(self.storage, MemoryStorage) else "redis"

    @property
    def degraded(self) -> bool:
        return self._down_until is not None

    async def hit(self, identity: str) -> RateDecision:
        """Count one request for ``identity``."""
        return await self._decide(identity, count=True)

    async def peek(self, identity: str) -> RateDecision:
        """Whether one more request of ``identity`` would be allowed, without counting it."""
        return await self._decide(identity, count=False)

    async def _decide(self, identity: str, *, count: bool) -> RateDecision:
        if self._down_until is None or time.monotonic() >= self._down_until:
            try:
                decision = await self._ask(self._strategy, identity, count)
            except Exception as exc:  # noqa: BLE001 - any store failure means: fall back, see module docstring
                if self._fallback is None:
                    raise
                if self._down_until is None:
                    log.warning("rate limiter store (%s) unreachable, using per-replica memory counters: %s",
                                self.backend, exc)
                    metrics.RATE_LIMIT_DEGRADED.labels(self.policy).set(1)
                self._down_until = time.monotonic() + self.retry_s
            else:
                if self._down_until is not None:
                    log.warning("rate limiter store (%s) reachable again; shared counters restored", self.backend)
                    metrics.RATE_LIMIT_DEGRADED.labels(self.policy).set(0)
                    self._down_until = None
                return decision
        return await self._ask(self._fallback, identity, count)

    async def _ask(self, strategy: FixedWindowRateLimiter, identity: str, count: bool) -> RateDecision:
        allowed = await (strategy.hit if count else strategy.test)(self.item, identity)
        stats = await strategy.get_window_stats(self.item, identity)
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
