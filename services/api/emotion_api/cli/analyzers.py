"""Two ways to analyse an image, behind one interface: the in-process pipeline or a running gateway.

Both return the JSON body of POST /v1/emotions, so every command prints and records the same
thing whichever way it ran.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..faces.types import Region
from ..stream_regions import RegionPlanner

ANALYZE_PATH = "/v1/emotions"
UPLOAD_FIELD = "image"


class AnalysisError(Exception):
    """An image the service refused, with the API's stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def as_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class LocalAnalyzer:
    """Runs the gateway's own pipeline (detector, batcher, backend) inside this process."""

    def __init__(self, *, ready_timeout_s: float = 120.0) -> None:
        self._ready_timeout_s = ready_timeout_s
        self._runtime = None

    async def __aenter__(self) -> LocalAnalyzer:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow reads it on import
        from ..core.config import get_settings
        from ..runtime import Runtime  # lazy: loads TensorFlow, which `--url` never needs

        try:
            self._settings = get_settings()
        except ValueError as exc:  # pydantic's ValidationError names the bad variable
            raise AnalysisError("invalid_settings", str(exc)) from None
        self._runtime = Runtime(self._settings)
        await self._runtime.start()
        deadline = time.monotonic() + self._ready_timeout_s
        while not await self._runtime.backend.ready():
            if time.monotonic() > deadline:
                await self._runtime.stop()
                raise AnalysisError("backend_unavailable", f"the model did not load within {self._ready_timeout_s:g}s")
            await asyncio.sleep(0.1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runtime is not None:
            await self._runtime.stop()

    def region_planner(self) -> RegionPlanner:
        """Video frames are searched like a stream's: around the faces followed, whole every
        STREAM_FULL_DETECT_EVERY-th frame (stream_regions.py)."""
        return RegionPlanner(self._settings.stream_full_detect_every)

    async def analyze_gray(self, gray: np.ndarray) -> dict[str, Any]:
        body, _ = await self.analyze_frame(gray, None)
        return body

    async def analyze_frame(self, gray: np.ndarray,
                            regions: tuple[Region, ...] | None) -> tuple[dict[str, Any], tuple[Region, ...] | None]:
        """The response body, and the regions searched (None: the whole frame)."""
        from ..api.schemas import EmotionsResponse
        from ..errors import ApiError

        try:
            result = await self._runtime.pipeline.analyze(gray, regions=regions)
        except ApiError as exc:
            raise AnalysisError(exc.code, exc.message) from None
        return EmotionsResponse.from_result(result).model_dump(mode="json"), result.searched

    async def analyze_file(self, path: Path) -> dict[str, Any]:
        from ..errors import ApiError
        from ..image_decode import decode_image

        try:
            gray = decode_image(path.read_bytes(), max_pixels=self._settings.max_image_pixels)
        except ApiError as exc:
            raise AnalysisError(exc.code, exc.message) from None
        return await self.analyze_gray(gray)


class RemoteAnalyzer:
    """Sends images to a running gateway over HTTP (keep-alive, one connection reused)."""

    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 30.0) -> None:
        import httpx

        headers = {"X-API-Key": api_key} if api_key else {}
        self._client = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    async def __aenter__(self) -> RemoteAnalyzer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def analyze_bytes(self, data: bytes, filename: str, content_type: str) -> dict[str, Any]:
        import httpx

        try:
            response = await self._client.post(ANALYZE_PATH, files={UPLOAD_FIELD: (filename, data, content_type)})
        except httpx.HTTPError as exc:
            raise AnalysisError("unreachable", f"cannot reach {self._client.base_url}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise AnalysisError(error.get("code", f"http_{response.status_code}"),
                                error.get("message", response.reason_phrase))
        return body

    def region_planner(self) -> None:
        """None: POST /v1/emotions takes no regions, so every frame is searched whole."""
        return None

    async def analyze_frame(self, gray: np.ndarray, regions: None) -> tuple[dict[str, Any], None]:
        return await self.analyze_gray(gray), None

    async def analyze_gray(self, gray: np.ndarray) -> dict[str, Any]:
        # PNG keeps the frame exact (what the local pipeline would see) at a few ms per frame.
        ok, encoded = cv2.imencode(".png", gray)
        if not ok:
            raise AnalysisError("invalid_image", "cannot encode the frame")
        return await self.analyze_bytes(encoded.tobytes(), "frame.png", "image/png")

    async def analyze_file(self, path: Path) -> dict[str, Any]:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return await self.analyze_bytes(path.read_bytes(), path.name, content_type)


Analyzer = LocalAnalyzer | RemoteAnalyzer


def make_analyzer(url: str | None, api_key: str | None) -> Analyzer:
    return RemoteAnalyzer(url, api_key=api_key) if url else LocalAnalyzer()
