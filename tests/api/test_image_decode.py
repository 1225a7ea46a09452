"""image_decode on real images in every accepted format and mode, and its limits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emotion_api.errors import ImageTooLarge, InvalidImage, UnsupportedMediaType
from emotion_api.image_decode import decode_image
from harness.images import encode, scene

LIMIT = 10_000_000


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return scene(1).image


@pytest.mark.parametrize("fmt,options", [("PNG", {}), ("BMP", {}), ("WEBP", {"lossless": True}), ("GIF", {})])
def test_lossless_formats_round_trip(gray, fmt, options):
    assert np.array_equal(decode_image(encode(gray, fmt, **options), max_pixels=LIMIT), gray)


def test_jpeg_is_close(gray):
    decoded = decode_image(encode(gray, "JPEG", quality=95), max_pixels=LIMIT)
    assert decoded.shape == gray.shape and np.abs(decoded.astype(int) - gray).mean() < 3


def test_gif_first_frame(gray):
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert Image.open(__import__("io").BytesIO(data)).n_frames == 2
    assert np.array_equal(decode_image(data, max_pixels=LIMIT), gray)


def test_sixteen_bit_keeps_the_top_byte(gray):
    wide = Image.fromarray(gray.astype(np.uint16) * 257)  # 0..65535
    assert wide.mode.startswith("I")
    assert np.array_equal(decode_image(encode(wide, "PNG"), max_pixels=LIMIT), gray)


def test_rgb_and_cmyk_become_luma(gray):
    rgb = Image.fromarray(np.stack([gray] * 3, axis=-1))
    assert np.array_equal(decode_image(encode(rgb, "PNG"), max_pixels=LIMIT), gray)
    cmyk = decode_image(encode(rgb.convert("CMYK"), "JPEG", quality=95), max_pixels=LIMIT)
    assert cmyk.shape == gray.shape and np.abs(cmyk.astype(int) - gray).mean() < 4


def test_transparent_pixels_become_white(gray):
    alpha = np.full(gray.shape, 255, np.uint8)
    alpha[:, :100] = 0
    rgba = Image.fromarray(np.dstack([gray, gray, gray, alpha]), "RGBA")
    decoded = decode_image(encode(rgba, "PNG"), max_pixels=LIMIT)
    assert (decoded[:, :100] == 255).all()
    assert np.array_equal(decoded[:, 100:], gray[:, 100:])
    la = decode_image(encode(Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG"), max_pixels=LIMIT)
    assert np.array_equal(la, decoded)


@pytest.mark.parametrize("orientation,undo", [(3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)])
def test_exif_orientation_is_applied(gray, orientation, undo):
    # Store the pixels turned the other way and tag them, as a phone camera does.
    stored = Image.fromarray(gray).transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encode(stored, "PNG", exif=exif), max_pixels=LIMIT)
    assert np.array_equal(decoded, gray)


def test_pixel_limit_is_checked_before_decoding():
    bomb = encode(np.zeros((4000, 3000), np.uint8), "PNG")  # 12 Mpx in ~12 KB
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLarge):
        decode_image(bomb, max_pixels=LIMIT)


@pytest.mark.parametrize(
    "data,error",
    [
        (b"", InvalidImage),
        (b"definitely not an image", InvalidImage),
        (encode(np.zeros((64, 64), np.uint8), "TIFF"), UnsupportedMediaType),
    ],
)
def test_bad_inputs(data, error):
    with pytest.raises(error):
        decode_image(data, max_pixels=LIMIT)


def test_truncated_image_is_invalid(gray):
    data = encode(gray, "JPEG", quality=90)
    with pytest.raises(InvalidImage):
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)
