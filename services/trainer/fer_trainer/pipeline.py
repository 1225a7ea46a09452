"""tf.data input pipelines: uint8 arrays in, float batches (and one-hot labels) out."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from emotion_contract.labels import NUM_CLASSES

from . import camera as camera_degrade
from .augment import make_augmenter


def _to_model_input(images: np.ndarray) -> np.ndarray:
    return images[..., None]  # [N, 48, 48] -> [N, 48, 48, 1], still uint8 to keep memory low


def mix(x: tf.Tensor, y: tf.Tensor, alpha: float, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mixup within a batch: each example blended with another by a weight drawn from
    Beta(alpha, alpha), labels by the same weight. ``seed`` is a stateless seed pair, so a run
    with the same seed sees the same blends."""
    n = tf.shape(x)[0]
    gamma_seeds = tf.random.experimental.stateless_split(seed, 3)
    a = tf.random.stateless_gamma([n], gamma_seeds[0], alpha=alpha)
    b = tf.random.stateless_gamma([n], gamma_seeds[1], alpha=alpha)
    lam = a / (a + b)
    partner = tf.argsort(tf.random.stateless_uniform([n], gamma_seeds[2]))
    x = lam[:, None, None, None] * x + (1.0 - lam[:, None, None, None]) * tf.gather(x, partner)
    y = lam[:, None] * y + (1.0 - lam[:, None]) * tf.gather(y, partner)
    return x, y


def _as_targets(y: tf.Tensor) -> tf.Tensor:
    """Integer labels become one-hot rows; float rows (distillation targets) pass unchanged."""
    return tf.one_hot(y, NUM_CLASSES) if y.dtype.is_integer else tf.cast(y, tf.float32)


def train_dataset(images, labels, batch_size: int, seed: int, augment_strength: float,
                  mixup: float = 0.0, camera: float = 0.0) -> tf.data.Dataset:
    """``labels`` are class indices [N] or target rows [N, K] (distill.targets)."""
    augmenter = make_augmenter(seed, augment_strength) if augment_strength > 0 else None

    def prepare(step, batch):
        x, y = batch
        x = tf.cast(x, tf.float32)
        if augmenter is not None:
            x = tf.clip_by_value(augmenter(x, training=True), 0.0, 255.0)
        if camera > 0:
            # Offset from mixup's seed stream so the two never draw the same numbers.
            x = camera_degrade.degrade(x, tf.stack([tf.cast(seed, tf.int64) + 7919, step]), camera)
        y = _as_targets(y)
        if mixup > 0:
            x, y = mix(x, y, mixup, tf.stack([tf.cast(seed, tf.int64), step]))
        return x, y

    ds = tf.data.Dataset.from_tensor_slices((_to_model_input(images), labels))
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True).enumerate()
    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def eval_dataset(images, labels, batch_size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((_to_model_input(images), labels)).batch(batch_size)
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), _as_targets(y))).prefetch(tf.data.AUTOTUNE)
