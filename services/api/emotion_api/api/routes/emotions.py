"""POST /v1/emotions: one image in, every face's emotion scores out."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from ...errors import InvalidRequest
from ...rollout_state import Selector
from ..deps import RuntimeDep, require_access
from ..schemas import EmotionsResponse, ErrorResponse
from ..upload import read_image_bytes

router = APIRouter(prefix="/v1", tags=["emotions"], dependencies=[Depends(require_access)])

# Model versions are int64 in TF Serving's ModelSpec; a larger pin could never name a version.
MAX_VERSION = 2**63 - 1

_ERRORS = {
    status: {"model": ErrorResponse, "description": codes}
    for status, codes in {
        400: "invalid_image",
        401: "unauthorized",
        404: "model_not_found",
        413: "payload_too_large, image_too_large",
        415: "unsupported_media_type",
        422: "invalid_request",
        429: "rate_limited",
        503: "backend_unavailable, detector_unavailable, overloaded",
        504: "timeout",
    }.items()
}

_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "format": "binary"}},
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "format": "byte", "description": "base64 image"}},
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post(
    "/emotions",
    response_model=EmotionsResponse,
    responses=_ERRORS,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="Detect faces and score their emotions",
)
async def analyze_emotions(
    request: Request,
    runtime: RuntimeDep,
    detect: bool = Query(True, description="false: the whole image is one pre-cropped face"),
    model_version: int | None = Query(None, ge=1, le=MAX_VERSION, description="pin a model version"),
    model_label: Literal["stable", "canary"] | None = Query(None, description="pin a rollout label"),
) -> EmotionsResponse:
    """JPEG, PNG, WebP, BMP or GIF (first frame) as multipart field `image`, JSON `{"image": base64}`
    or the raw bytes. Boxes are in pixels of the image as displayed (EXIF orientation applied)."""
    if model_version is not None and model_label is not None:
        raise InvalidRequest("pin either model_version or model_label, not both")
    settings = runtime.settings
    runtime.pipeline.admission.check()  # full: refused before the upload is read (admission.py)
    data = await read_image_bytes(request, settings.max_upload_bytes)
    result = await runtime.pipeline.analyze_upload(
        data, max_pixels=settings.max_image_pixels, detect=detect,
        selector=Selector(version=model_version, label=model_label),
    )
    return EmotionsResponse.from_result(result)
