"""What real cameras and the gateway's detector leave on a face crop, as training augmentations.

FER-2013's crops are already small, grey and roughly framed; the photos users send are not. Each
degradation is applied to a random share of a batch, with its own strength per face:

- downscale-then-upscale: a face found at 20-40 px and resized to 48 (the detector's small faces),
- Gaussian blur: focus and motion,
- JPEG artefacts: the quality of an upload, re-encoded,
- gamma: exposure and the camera's tone curve,
- occlusion: a hand, glasses or the frame edge covering part of the face.

Rotation, scale and framing jitter (what alignment leaves) stay in ``augment.make_augmenter``.
All randomness is stateless, keyed on the run seed and the batch number, so a resumed run sees
the same batches as an uninterrupted one.
"""

from __future__ import annotations

import tensorflow as tf

# Share of faces each degradation touches at strength 1.
P_DOWNSCALE, P_BLUR, P_JPEG, P_GAMMA, P_OCCLUDE = 0.3, 0.25, 0.3, 0.5, 0.2
DOWNSCALE_SIZES = (16, 20, 24, 32, 40)
JPEG_QUALITY = (20, 90)
MAX_LOG_GAMMA = 0.5
OCCLUSION_MAX = 0.45  # largest occluder side, as a share of the face


def _pick(seed, n, p):
    return tf.random.stateless_uniform([n], seed) < p


def _where(mask, a, b):
    return tf.where(mask[:, None, None, None], a, b)


def _gaussian_kernel(sigma: float, radius: int = 2) -> tf.Tensor:
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-(x ** 2) / (2.0 * sigma ** 2))
    k = k / tf.reduce_sum(k)
    return (k[:, None] * k[None, :])[:, :, None, None]


def downscale(x, seed, p):
    n, size = tf.shape(x)[0], tf.shape(x)[1:3]
    s = tf.random.experimental.stateless_split(seed, 2)
    sizes = tf.constant(DOWNSCALE_SIZES)
    small = sizes[tf.random.stateless_uniform([], s[0], 0, len(DOWNSCALE_SIZES), tf.int32)]
    y = tf.image.resize(tf.image.resize(x, [small, small], "area"), size, "bilinear")
    return _where(_pick(s[1], n, p), y, x)


def blur(x, seed, p):
    s = tf.random.experimental.stateless_split(seed, 2)
    n = tf.shape(x)[0]
    blurred = tf.nn.conv2d(tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], "REFLECT"), _gaussian_kernel(1.2), 1, "VALID")
    # A per-face blend between sharp and blurred stands in for a per-face sigma.
    w = tf.random.stateless_uniform([n, 1, 1, 1], s[0], 0.3, 1.0)
    return _where(_pick(s[1], n, p), w * blurred + (1 - w) * x, x)


def jpeg(x, seed, p):
    s = tf.random.experimental.stateless_split(seed, 2)
    n = tf.shape(x)[0]
    qualities = tf.random.stateless_uniform([n], s[0], JPEG_QUALITY[0], JPEG_QUALITY[1], tf.int32)

    def one(args):
        image, quality = args
        pixels = tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8)
        return tf.cast(tf.image.adjust_jpeg_quality(pixels, quality), tf.float32)

    y = tf.map_fn(one, (x, qualities), fn_output_signature=tf.TensorSpec([None, None, 1], tf.float32))
    y = tf.ensure_shape(y, x.shape)
    return _where(_pick(s[1], n, p), y, x)


def gamma(x, seed, p):
    s = tf.random.experimental.stateless_split(seed, 2)
    n = tf.shape(x)[0]
    g = tf.exp(tf.random.stateless_uniform([n, 1, 1, 1], s[0], -MAX_LOG_GAMMA, MAX_LOG_GAMMA))
    y = 255.0 * tf.pow(tf.clip_by_value(x, 0, 255) / 255.0, g)
    return _where(_pick(s[1], n, p), y, x)


def occlude(x, seed, p):
    s = tf.random.experimental.stateless_split(seed, 4)
    n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    size = tf.random.stateless_uniform([n, 2], s[0], 0.15, OCCLUSION_MAX) * tf.stack([hf, wf])
    corner = tf.random.stateless_uniform([n, 2], s[1]) * (tf.stack([hf, wf]) - size)
    rows = tf.range(hf)[None, :, None]
    cols = tf.range(wf)[None, None, :]
    inside = ((rows >= corner[:, 0, None, None]) & (rows < (corner[:, 0] + size[:, 0])[:, None, None])
              & (cols >= corner[:, 1, None, None]) & (cols < (corner[:, 1] + size[:, 1])[:, None, None]))
    fill = tf.random.stateless_uniform([n, 1, 1, 1], s[2], 0, 255)
    y = tf.where(inside[..., None], fill, x)
    return _where(_pick(s[3], n, p), y, x)


def degrade(x: tf.Tensor, seed: tf.Tensor, strength: float = 1.0) -> tf.Tensor:
    """float pixels [N, H, W, 1] in 0..255 -> the same, degraded; ``seed`` is a stateless seed pair."""
    if strength <= 0:
        return x
    s = tf.random.experimental.stateless_split(seed, 5)
    x = downscale(x, s[0], P_DOWNSCALE * strength)
    x = blur(x, s[1], P_BLUR * strength)
    x = gamma(x, s[2], P_GAMMA * strength)
    x = occlude(x, s[3], P_OCCLUDE * strength)
    x = jpeg(x, s[4], P_JPEG * strength)  # last: a camera compresses what it saw
    return tf.clip_by_value(x, 0.0, 255.0)
