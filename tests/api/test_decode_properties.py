"""Property-based tests of decode -> detect -> crop, the path every uploaded image takes.

Property: for any bytes a client can send (every accepted format and mode, EXIF orientations
1-8, sizes from 1x1 past the pixel limit at every aspect ratio, truncated or corrupted data,
real faces touching or crossing every edge), ``decode_image`` either raises one of the documented
errors or returns a uint8 plane of the image's displayed size, and detection plus cropping then
returns ``[n, 48, 48]`` uint8 crops; nothing else escapes. Derandomized and bounded: a fixed set
of examples, about 20 s on the shared 2-core machine.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from emotion_api.errors import ImageTooLarge, InvalidImage, UnsupportedMediaType
from emotion_api.faces import Box, crop_faces, make_detector
from emotion_api.image_decode import decode_image
from harness.images import val_faces

SIZE = 48  # the model's input side
MAX_PIXELS = 120_000  # the gateway's limit, scaled down so examples stay cheap
DOCUMENTED = (InvalidImage, ImageTooLarge, UnsupportedMediaType)
BOUNDED = settings(derandomize=True, max_examples=120, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Which modes each format can hold (Pillow converts nothing on save).
FORMAT_MODES = {
    "PNG": ("L", "RGB", "RGBA", "LA", "P", "P+t", "I;16", "1"),
    "JPEG": ("L", "RGB", "CMYK"),
    "WEBP": ("RGB", "RGBA"),
    "BMP": ("L", "RGB", "P", "1"),
    "GIF": ("P", "P+t", "L"),
}
EXIF_FORMATS = ("PNG", "JPEG", "WEBP")
# 90-degree orientations (5-8) swap width and height.
SWAPS = {5, 6, 7, 8}


@pytest.fixture(scope="module")
def detector():
    return make_detector("default")


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    return [face for _, face in val_faces(per_class=1)]


def _sizes() -> st.SearchStrategy[tuple[int, int]]:
    side = st.integers(1, 700)
    thin = st.tuples(st.integers(1, 3), st.integers(1, 40_000))  # extreme aspect ratios, both ways
    near_limit = st.integers(1, 2 * MAX_PIXELS).flatmap(
        lambda area: st.integers(1, area).map(lambda w: (w, max(1, area // w))))
    return st.one_of(st.tuples(side, side), thin, thin.map(lambda s: s[::-1]), near_limit)


def _pil(gray: np.ndarray, mode: str) -> Image.Image:
    image = Image.fromarray(gray)
    if mode == "I;16":
        return Image.fromarray(gray.astype(np.uint16) * 257)
    if mode == "P+t":
        image = image.convert("P")
        image.info["transparency"] = 0
        return image
    return image.convert(mode)


def _encode(image: Image.Image, fmt: str, orientation: int | None) -> bytes:
    options = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    if image.mode == "P" and "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@st.composite
def uploads(draw, faces: list[np.ndarray]):
    """(bytes, the displayed size those bytes declare or None when they were damaged)."""
    width, height = draw(_sizes())
    fmt = draw(st.sampled_from(sorted(FORMAT_MODES)))
    mode = draw(st.sampled_from(FORMAT_MODES[fmt]))
    orientation = draw(st.one_of(st.none(), st.integers(1, 8))) if fmt in EXIF_FORMATS else None
    if fmt == "WEBP" and max(width, height) > 16383 or fmt == "GIF" and max(width, height) > 65535:
        width, height = min(width, 16383), min(height, 16383)  # the format's own limit
    if width * height > 4 * MAX_PIXELS:  # encoding is the slow part: keep refused images small
        height = max(1, 4 * MAX_PIXELS // width)
    seed = draw(st.integers(0, 2**16))
    gray = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    if width * height <= MAX_PIXELS and draw(st.booleans()):
        gray = _paste_face(draw, gray, faces)
    data = _encode(_pil(gray, mode), fmt, orientation)
    declared = (height, width) if orientation in SWAPS else (width, height)
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
        declared = None
    elif damage == "flip":
        index = draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1:]
        declared = None
    return data, declared


def _paste_face(draw, gray: np.ndarray, faces: list[np.ndarray]) -> np.ndarray:
    """A real face, scaled, placed anywhere: inside, touching or crossing any edge or corner."""
    height, width = gray.shape
    face = faces[draw(st.integers(0, len(faces) - 1))]
    side = draw(st.integers(24, 260))
    face = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR)
    x = draw(st.integers(-side + 1, width - 1))
    y = draw(st.integers(-side + 1, height - 1))
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + side), min(height, y + side)
    out = gray.copy()
    out[y0:y1, x0:x1] = face[y0 - y : y1 - y, x0 - x : x1 - x]
    return out


def test_decode_detect_crop_never_escapes(detector, faces):
    @BOUNDED
    @given(upload=uploads(faces))
    def check(upload):
        data, declared = upload
        try:
            gray = decode_image(data, max_pixels=MAX_PIXELS)
        except DOCUMENTED:
            if declared is not None:  # undamaged bytes are refused only for their size
                assert declared[0] * declared[1] > MAX_PIXELS
            return
        assert gray.dtype == np.uint8 and gray.ndim == 2
        height, width = gray.shape
        assert width * height <= MAX_PIXELS
        if declared is not None:
            assert (width, height) == declared
        boxes = detector.detect(gray)
        crops = crop_faces(gray, boxes, SIZE)
        assert crops.shape == (len(boxes), SIZE, SIZE) and crops.dtype == np.uint8
        whole = crop_faces(gray, [Box(0, 0, width, height)], SIZE)  # detect=false
        assert whole.shape == (1, SIZE, SIZE)

    check()


@BOUNDED
@given(
    size=st.tuples(st.integers(1, 400), st.integers(1, 400)),
    box=st.tuples(st.integers(-600, 600), st.integers(-600, 600), st.integers(0, 800), st.integers(0, 800)),
)
def test_crops_of_boxes_on_or_beyond_every_edge(size, box):
    width, height = size
    gray = np.random.default_rng(width * 401 + height).integers(0, 256, (height, width), dtype=np.uint8)
    crops = crop_faces(gray, [Box(*box)], SIZE)
    assert crops.shape == (1, SIZE, SIZE) and crops.dtype == np.uint8
