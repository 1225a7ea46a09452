"""Uploaded bytes -> one grayscale uint8 plane, oriented as the image is displayed.

Accepts JPEG, PNG, WebP, BMP and the first frame of a GIF in any of Pillow's modes (grayscale,
palette, alpha, 16-bit, CMYK). The pixel limit is checked on the header, before any pixel is
decoded, so a decompression bomb costs nothing but the header read.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageTooLarge, InvalidImage, UnsupportedMediaType

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode ``data`` to a uint8 [H, W] array (EXIF orientation applied)."""
    if not data:
        raise InvalidImage("the image is empty")
    image = _open(data)
    width, height = image.size
    if width < 1 or height < 1:
        raise InvalidImage("the image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(f"the image has {width}x{height} pixels; at most {max_pixels} are accepted")
    try:
        image.seek(0)  # first frame of an animation
        image.load()
        image = ImageOps.exif_transpose(image)
        return _to_gray(image)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - see below
        # Truncated or corrupt pixel data behind a valid header. Pillow's decoders and its EXIF
        # parser fail on hostile bytes with whatever their code hits (struct.error, KeyError,
        # TypeError, ...), not only OSError; every one of them means these bytes are no image.
        raise InvalidImage(f"the image data is corrupt: {type(exc).__name__}: {str(exc)[:200]}") from exc


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except UnidentifiedImageError:
        pass
    except Exception as exc:  # noqa: BLE001 - any header parser failure on client bytes
        raise InvalidImage(f"the image header is corrupt: {type(exc).__name__}: {str(exc)[:200]}") from exc
    # Tell "an image we do not take" (415) from "not an image" (400).
    try:
        other = Image.open(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - any failure here means: not an image at all
        raise InvalidImage("the data is not a JPEG, PNG, WebP, BMP or GIF image") from None
    raise UnsupportedMediaType(f"{other.format} images are not supported; send JPEG, PNG, WebP, BMP or GIF")


def _to_gray(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        # Keep the top 8 bits; Pillow's own convert("L") would clip everything above 255.
        return (np.asarray(image, dtype=np.uint16) >> 8).astype(np.uint8)
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        return np.clip(values * (255.0 / top), 0, 255).round().astype(np.uint8)
    if mode == "L":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info) or (
        mode in ("RGB", "L") and "transparency" in image.info
    ):
        # Transparent regions become white, as a browser shows them on a white page.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, rgba)
    elif mode == "CMYK":
        image = image.convert("RGB")
    return np.asarray(image.convert("L"), dtype=np.uint8).copy()
