"""Training-time augmentation, applied in the tf.data pipeline so the exported model stays clean."""

from __future__ import annotations

import keras
from keras import layers


def make_augmenter(seed: int, strength: float = 1.0) -> keras.layers.Pipeline:
    """Flip, small rotation/shift/zoom and brightness/contrast jitter: what a face crop varies by.

    Strength scales every range, so a weak setting can be tried without editing code. A
    ``Pipeline``, not a ``Sequential``: only a Pipeline lets these layers run inside tf.data when
    Keras trains on another backend (KERAS_BACKEND=jax).
    """
    s = strength
    return keras.layers.Pipeline(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.04 * s, fill_mode="reflect", seed=seed + 1),  # ±14° at s=1
            layers.RandomTranslation(0.1 * s, 0.1 * s, fill_mode="reflect", seed=seed + 2),
            layers.RandomZoom(0.1 * s, fill_mode="reflect", seed=seed + 3),
            layers.RandomContrast(0.3 * s, value_range=(0, 255), seed=seed + 4),
            layers.RandomBrightness(0.15 * s, value_range=(0, 255), seed=seed + 5),
        ],
        name="augment",
    )
