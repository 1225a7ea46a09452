"""The app factory: settings, lifespan, error handlers, middleware and every router."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ..core.config import Settings, get_settings
from ..errors import install_error_handlers
from ..runtime import Runtime
from .middleware import MetricsMiddleware
from .security import SecurityHeadersMiddleware, redact_keys
from .routes import emotions, health, metrics, models, stream, web

log = logging.getLogger(__name__)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("emotion_api").setLevel(settings.logging_level)
    redact_keys()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    _configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        # Only the server drains on SIGTERM and warns about open access; the CLI and the benchmarks
        # build the same Runtime, where Ctrl-C must stop at once and there is no /v1/* to protect.
        runtime.drain.install()
        if not settings.api_keys:
            # Every start, because an open /v1/* on a public address is a deployment bug that nothing
            # else would report (uvicorn's --host is not visible to the app).
            log.warning("API_KEYS is not set: /v1/* accepts every caller. Set it before serving beyond localhost.")
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Emotion recognition API",
        version="1.0.0",
        summary="Faces and their emotions (FER-2013 labels) in uploaded images.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    # Listed explicitly: a renamed module fails at import instead of silently dropping its route.
    for router in (emotions.router, models.router, health.router, metrics.router, stream.router, web.router):
        app.include_router(router)
    return app
