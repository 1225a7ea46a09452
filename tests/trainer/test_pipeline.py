"""The training input pipeline on real images: one-hot labels, and mixup's blends."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fer_trainer.data import load_split
from fer_trainer.pipeline import mix, train_dataset


def first_batches(split, mixup: float, batches: int = 2):
    ds = train_dataset(split.images, split.labels, 16, seed=5, augment_strength=0.0, mixup=mixup)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]


def test_without_mixup_labels_are_one_hot_and_pixels_untouched(slice_dir):
    split = load_split(slice_dir, "train", use_cache=False)
    for x, y in first_batches(split, 0.0):
        assert set(np.unique(y)) == {0.0, 1.0} and np.all(y.sum(1) == 1)
        originals = {img.tobytes(): label for img, label in zip(split.images.astype(np.float32), split.labels)}
        for image, label in zip(x[..., 0], y.argmax(1)):
            assert originals[image.tobytes()] == label


def test_mixup_blends_two_real_faces_and_their_labels_by_one_weight(slice_dir):
    split = load_split(slice_dir, "train", use_cache=False)
    faces = split.images[:: len(split) // 16][:16, ..., None].astype(np.float32)
    onehot = np.eye(7, dtype=np.float32)[split.labels[:: len(split) // 16][:16]]
    out_x, out_y = (t.numpy() for t in mix(tf.constant(faces), tf.constant(onehot), 0.4, tf.constant([5, 0], tf.int64)))
    flat, flat_out = faces.reshape(16, -1).astype(np.float64), out_x.reshape(16, -1).astype(np.float64)
    blended = 0
    for k in range(16):
        if np.allclose(flat_out[k], flat[k], atol=1e-3):
            assert np.allclose(out_y[k], onehot[k], atol=1e-5)  # paired with itself, or lam ~ 1
            continue
        # Output k is lam * face k + (1 - lam) * face j for the partner j the batch gave it.
        fits = []
        for j in range(16):
            d = flat[k] - flat[j]
            lam = float(np.dot(flat_out[k] - flat[j], d) / max(np.dot(d, d), 1e-9))
            fits.append((np.abs(lam * flat[k] + (1 - lam) * flat[j] - flat_out[k]).max(), j, lam))
        error, j, lam = min(fits)
        assert error < 0.01 and 0.0 <= lam <= 1.0
        assert np.allclose(out_y[k], lam * onehot[k] + (1 - lam) * onehot[j], atol=1e-4)
        blended += 1
    assert blended >= 12, "with alpha 0.4 nearly every example is a blend"
    again = mix(tf.constant(faces), tf.constant(onehot), 0.4, tf.constant([5, 0], tf.int64))[0].numpy()
    other = mix(tf.constant(faces), tf.constant(onehot), 0.4, tf.constant([5, 1], tf.int64))[0].numpy()
    assert np.array_equal(again, out_x) and not np.array_equal(other, out_x)


def test_the_training_pipeline_applies_mixup_when_asked(slice_dir):
    split = load_split(slice_dir, "train", use_cache=False)
    for _, y in first_batches(split, 0.4):
        assert np.allclose(y.sum(1), 1.0, atol=1e-5)
        assert (y.max(1) < 1 - 1e-6).sum() >= 8
