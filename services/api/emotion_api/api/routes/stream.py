"""WS /v1/emotions/stream: camera frames in, tracked faces with smoothed emotions out.

Protocol (one connection = one camera; faces are tracked for the life of the connection):

- Authentication, when API_KEYS is set: an `X-API-Key` / `Authorization: Bearer` header on the
  upgrade request, an `api_key` query parameter, or, for browsers (which cannot set headers on a
  WebSocket), a first text message `{"api_key": "..."}`. A bad key gets an `unauthorized` error
  message and close code 1008.
- The server then sends `{"ready": true, "max_fps": ..., "smoothing": ..., "uncertain_threshold": ...}`.
- Each frame is a binary message (JPEG/PNG/... bytes) or a text message `{"image": "<base64>"}`.
  Each gets exactly one reply, in order: the JSON of POST /v1/emotions plus `"frame"` (0-based
  index of the frame on this connection) and a `"track_id"` per face, with `scores`, `emotion`
  and `confidence` smoothed over the track (STREAM_SMOOTHING); or `{"frame": n, "error": {"code",
  "message"}}` for a frame that was refused (the connection stays open).
- Frames share the REST path's admission control, batcher, rate limit (one hit per frame), metrics
  and error codes (an `overloaded` frame carries `retry_after`). Frames arriving faster than
  STREAM_MAX_FPS are answered `frame_rate_exceeded` unanalysed, so a client that sends flat out
  cannot take more than its share of the model.
- Between whole-frame searches (every STREAM_FULL_DETECT_EVERY-th frame) a frame is searched only
  around the faces found in the one before (stream_regions.py); the reply is the same either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ... import access, metrics
from ...auth import presented_key
from ...errors import ApiError, FrameRateExceeded, InvalidRequest, PayloadTooLarge, RateLimited, Unauthorized
from ...runtime import Runtime
from ...stream_regions import RegionPlanner
from ...tracking import FaceTracker, track_faces
from ..schemas import EmotionsResponse
from ..upload import decode_base64_image, parse_json_object

log = logging.getLogger(__name__)

ROUTE = "/v1/emotions/stream"
AUTH_TIMEOUT_S = 10.0
POLICY_VIOLATION = 1008
_CONTROL_KEYS = {"api_key", "hello"}

router = APIRouter(tags=["emotions"])


class _FrameBudget:
    """Token bucket at ``max_fps`` with a burst of two, so network jitter does not drop frames."""

    def __init__(self, max_fps: float, burst: float = 2.0) -> None:
        self.rate, self.capacity = max_fps, burst
        self.tokens, self.updated = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def _frame_bytes(message: dict[str, Any], max_bytes: int) -> bytes | None:
    """The image bytes of one message; None for a control message (such as a late api_key)."""
    data = message.get("bytes")
    if data is None:
        payload = parse_json_object(message.get("text") or "", "a text message")
        if "image" not in payload:
            if payload.keys() <= _CONTROL_KEYS:
                return None
            raise InvalidRequest('a text message must be a JSON object like {"image": "<base64>"}')
        data = decode_base64_image(str(payload["image"]))
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the frame is larger than the limit of {max_bytes} bytes")
    return data


async def _authenticate(websocket: WebSocket, runtime: Runtime) -> str:
    """The caller's identity, by the REST routes' rule (access.py) once the key is found where a
    WebSocket client can put it; raises Unauthorized or RateLimited."""
    keys = runtime.settings.api_keys
    headers: Any = websocket.headers
    if keys and presented_key(headers) is None:
        key = websocket.query_params.get("api_key")
        if key is None:
            try:
                first = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT_S)
            except TimeoutError:
                raise Unauthorized('send {"api_key": "..."} as the first message') from None
            if first["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(first.get("code", 1000))
            try:
                key = parse_json_object(first.get("text") or "", "the first message").get("api_key")
            except InvalidRequest:
                key = None
        headers = {"x-api-key": key if isinstance(key, str) else ""}
    return await access.identify(runtime, headers, access.client_address(websocket.client))


class _Session:
    def __init__(self, runtime: Runtime, identity: str) -> None:
        self.runtime = runtime
        self.identity = identity
        self.settings = runtime.settings
        self.tracker = FaceTracker(smoothing=min(self.settings.stream_smoothing, 0.99),
                                   uncertain_threshold=self.settings.uncertain_threshold)
        self.budget = _FrameBudget(self.settings.stream_max_fps)
        self.regions = RegionPlanner(self.settings.stream_full_detect_every)
        self.frame_size: tuple[int, int] | None = None  # width, height of the last analysed frame
        self.frames = 0

    async def handle(self, message: dict[str, Any]) -> dict[str, Any] | None:
        started = time.perf_counter()
        index, status = self.frames, "200"
        try:
            data = _frame_bytes(message, self.settings.max_upload_bytes)
            if data is None:
                return None
            self.frames += 1
            return await self._analyze(index, data)
        except ApiError as exc:
            status = str(exc.status)
            self.frames = index + 1
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if "Retry-After" in exc.headers:
                error["retry_after"] = int(exc.headers["Retry-After"])
            return {"frame": index, "error": error}
        except Exception:
            status = "500"
            log.exception("stream frame %d failed", index)
            return {"frame": index, "error": {"code": "internal", "message": "internal server error"}}
        finally:
            metrics.REQUESTS.labels(ROUTE, "WS", status).inc()
            metrics.REQUEST_LATENCY.labels(ROUTE).observe(time.perf_counter() - started)

    async def _analyze(self, index: int, data: bytes) -> dict[str, Any]:
        if not self.budget.take():
            raise FrameRateExceeded(f"more than {self.settings.stream_max_fps:g} frames per second; frame skipped")
        await access.charge(self.runtime, self.identity)
        followed = self.tracker.seen_last()
        regions = self.regions.plan(followed, *self.frame_size) if self.frame_size else None
        result = await self.runtime.pipeline.analyze_upload(
            data, max_pixels=self.settings.max_image_pixels, regions=regions
        )
        # The pipeline searches whole a frame the region does not fit (the camera changed size).
        self.regions.record(result.searched, len(followed), len(result.faces))
        self.frame_size = result.width, result.height
        metrics.STREAM_SEARCHES.labels("frame" if result.searched is None else "region").inc()
        body = EmotionsResponse.from_result(result).model_dump(mode="json")
        body["faces"] = track_faces(self.tracker, body["faces"])
        body["frame"] = index
        return body


@router.websocket(ROUTE)
async def emotion_stream(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    await websocket.accept()
    try:
        identity = await _authenticate(websocket, runtime)
    except (Unauthorized, RateLimited) as exc:
        metrics.REQUESTS.labels(ROUTE, "WS", str(exc.status)).inc()
        await websocket.send_json({"error": {"code": exc.code, "message": exc.message}})
        await websocket.close(code=POLICY_VIOLATION, reason=exc.code)
        return
    except WebSocketDisconnect:
        return
    settings = runtime.settings
    await websocket.send_json({"ready": True, "max_fps": settings.stream_max_fps, "smoothing": settings.stream_smoothing,
                               "uncertain_threshold": settings.uncertain_threshold})
    session = _Session(runtime, identity)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            reply = await session.handle(message)
            if reply is not None:
                await websocket.send_json(reply)
    except WebSocketDisconnect:
        return
