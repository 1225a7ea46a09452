"""The app factory: settings, lifespan, error handlers, middleware and every router."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from ..core.config import Settings, get_settings
from ..errors import install_error_handlers
from ..runtime import Runtime
from .middleware import MetricsMiddleware
from .security import SecurityHeadersMiddleware, redact_keys
from .routes import emotions, health, metrics, models

# Routers other parts of the project add; included when their module exists.
OPTIONAL_ROUTES = ("web", "stream")


def _optional_routers() -> list[APIRouter]:
    routers = []
    for name in OPTIONAL_ROUTES:
        module_name = f"{__package__}.routes.{name}"
        if importlib.util.find_spec(module_name) is not None:
            routers.append(importlib.import_module(module_name).router)
    return routers


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
    for router in (emotions.router, models.router, health.router, metrics.router, *_optional_routers()):
        app.include_router(router)
    return app
