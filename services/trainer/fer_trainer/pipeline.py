"""tf.data input pipelines: uint8 arrays in, float batches (and one-hot labels) out."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .augment import make_augmenter
from .labels import NUM_CLASSES


def _to_model_input(images: np.ndarray) -> np.ndarray:
    return images[..., None]  # [N, 48, 48] -> [N, 48, 48, 1], still uint8 to keep memory low


def train_dataset(images, labels, batch_size: int, seed: int, augment_strength: float) -> tf.data.Dataset:
    augmenter = make_augmenter(seed, augment_strength) if augment_strength > 0 else None

    def prepare(x, y):
        x = tf.cast(x, tf.float32)
        if augmenter is not None:
            x = tf.clip_by_value(augmenter(x, training=True), 0.0, 255.0)
        return x, tf.one_hot(y, NUM_CLASSES)

    ds = tf.data.Dataset.from_tensor_slices((_to_model_input(images), labels))
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def eval_dataset(images, labels, batch_size: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((_to_model_input(images), labels)).batch(batch_size)
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, NUM_CLASSES))).prefetch(tf.data.AUTOTUNE)
