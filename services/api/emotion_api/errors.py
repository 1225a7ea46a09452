"""Domain errors and the one place that turns them into `{"error": {"code", "message"}}` responses.

Codes are part of the public API: clients branch on them, so they never change meaning.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    code = "internal"
    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InvalidRequest(ApiError):
    code, status = "invalid_request", 422


class InvalidImage(ApiError):
    code, status = "invalid_image", 400


class UnsupportedMediaType(ApiError):
    code, status = "unsupported_media_type", 415


class PayloadTooLarge(ApiError):
    code, status = "payload_too_large", 413


class ImageTooLarge(ApiError):
    # The bytes were acceptable but the decoded pixel count is not (decompression bombs).
    code, status = "image_too_large", 413


class Unauthorized(ApiError):
    code, status = "unauthorized", 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="emotion"'})


class RateLimited(ApiError):
    code, status = "rate_limited", 429


class ModelNotFound(ApiError):
    code, status = "model_not_found", 404


class BackendUnavailable(ApiError):
    code, status = "backend_unavailable", 503

    # Serving restarting or a version loading takes seconds: tell clients when to come back.
    def __init__(self, message: str = "the model backend is unavailable; retry shortly") -> None:
        super().__init__(message, headers={"Retry-After": "2"})


class ShuttingDown(ApiError):
    """Readiness after SIGTERM (draining.py): this replica takes no new work; requests in flight finish."""

    code, status = "shutting_down", 503


class DetectorUnavailable(ApiError):
    """A face-detection worker process died under this request; the pool is already replaced."""

    code, status = "detector_unavailable", 503

    def __init__(self, message: str = "a face-detection worker failed; retry") -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class Overloaded(ApiError):
    code, status = "overloaded", 503

    def __init__(self, message: str = "the inference queue is full; retry shortly") -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class FrameRateExceeded(ApiError):
    """A stream frame above STREAM_MAX_FPS: answered unanalysed, the stream goes on."""

    code, status = "frame_rate_exceeded", 429


class Timeout(ApiError):
    code, status = "timeout", 504


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


# Framework errors (unknown route, wrong method) keep their status under a stable code too.
_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "invalid_request")
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        # Starlette answers this one outside every middleware, so it gets the header itself.
        return error_response(500, "internal", "internal server error", {"X-Content-Type-Options": "nosniff"})
