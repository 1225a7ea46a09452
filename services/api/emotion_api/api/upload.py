"""The uploaded image's bytes from a request: multipart field `image`, JSON base64, or a raw body.

The body is read as a stream and refused (413 payload_too_large) as soon as it passes the limit,
before it is buffered whole; multipart framing and base64 get a proportional allowance.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ..errors import InvalidImage, InvalidRequest, PayloadTooLarge, UnsupportedMediaType

FIELD = "image"
_MULTIPART_OVERHEAD = 64 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")


async def _limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        yield chunk


async def _read_body(request: Request, limit: int) -> bytes:
    return b"".join([chunk async for chunk in _limited_stream(request, limit)])


async def _from_multipart(request: Request, max_bytes: int) -> bytes:
    parser = MultiPartParser(
        request.headers,
        _limited_stream(request, max_bytes + _MULTIPART_OVERHEAD),
        max_files=1,
        max_fields=8,
        max_part_size=64 * 1024,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"malformed multipart body: {exc.message}") from exc
    try:
        upload = form.get(FIELD)
        if not isinstance(upload, UploadFile):
            raise InvalidRequest(f"the multipart body needs a file field named {FIELD!r}")
        data = await upload.read(max_bytes + 1)
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


async def _from_json(request: Request, max_bytes: int) -> bytes:
    # base64 grows data by 4/3; allow for that plus a little JSON around it.
    body = await _read_body(request, max_bytes * 4 // 3 + 4096)
    payload = parse_json_object(body, "the body")
    if not isinstance(payload.get(FIELD), str):
        raise InvalidRequest(f'the JSON body must be an object like {{"{FIELD}": "<base64>"}}')
    data = decode_base64_image(payload[FIELD])
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return data


def parse_json_object(raw: bytes | str, what: str) -> dict[str, Any]:
    """``raw`` parsed as a JSON object; InvalidRequest for anything else.

    Every JSON text a client sends (REST bodies, stream messages) is parsed here. ``json.loads``
    fails in more ways than JSONDecodeError: RecursionError for deeply nested arrays, ValueError
    for integers of more than 4300 digits; all of them are the client's malformed input.
    """
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidRequest(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(payload, dict):
        raise InvalidRequest(f'{what} must be a JSON object like {{"{FIELD}": "<base64>"}}')
    return payload


def decode_base64_image(encoded: str) -> bytes:
    """Base64 image bytes, from plain base64 or a data: URL (as browsers make them)."""
    encoded = encoded.strip()
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidImage("the image is not valid base64") from exc


async def read_image_bytes(request: Request, max_bytes: int) -> bytes:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return await _from_multipart(request, max_bytes)
    if media_type == "application/json":
        return await _from_json(request, max_bytes)
    if media_type.startswith("image/") or media_type == "application/octet-stream":
        return await _read_body(request, max_bytes)
    raise UnsupportedMediaType(
        f"unsupported Content-Type {media_type or '(none)'!r}: send multipart/form-data with an "
        f"'{FIELD}' file, application/json with base64 '{FIELD}', or the raw image bytes"
    )
