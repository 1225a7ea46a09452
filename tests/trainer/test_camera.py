"""The camera degradations on real faces: each changes a face the way its name says, all are
seeded, and none leaves the pixel range or the batch shape."""

import numpy as np
import pytest
import tensorflow as tf

from fer_trainer import camera
from fer_trainer.data import load_split
from fer_trainer.pipeline import train_dataset


@pytest.fixture(scope="module")
def faces(slice_dir):
    return tf.constant(load_split(slice_dir, "train").images[:16, ..., None].astype(np.float32))


SEED = tf.constant([7, 0], tf.int64)


def _sharpness(x):
    return float(tf.reduce_mean(tf.abs(x[:, 1:, :, :] - x[:, :-1, :, :])))


def test_degrade_keeps_shape_and_range_and_is_seeded(faces):
    out = camera.degrade(faces, SEED, 1.0)
    assert out.shape == faces.shape
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 255.0
    np.testing.assert_array_equal(out, camera.degrade(faces, SEED, 1.0))
    assert not np.array_equal(out, camera.degrade(faces, tf.constant([8, 0], tf.int64), 1.0))
    np.testing.assert_array_equal(camera.degrade(faces, SEED, 0.0), faces)


def test_downscale_and_blur_remove_detail(faces):
    for degrade in (camera.downscale, camera.blur):
        out = degrade(faces, SEED, 1.0)
        assert _sharpness(out) < 0.8 * _sharpness(faces), degrade.__name__


def test_jpeg_changes_pixels_but_keeps_the_face(faces):
    out = camera.jpeg(faces, SEED, 1.0)
    diff = np.abs(out.numpy() - faces.numpy())
    assert diff.mean() > 0.5  # artefacts at quality 20-90
    assert diff.mean() < 12  # still the same picture


def test_gamma_moves_brightness_per_face(faces):
    out = camera.gamma(faces, SEED, 1.0).numpy()
    ratios = (out.mean(axis=(1, 2, 3)) + 1) / (faces.numpy().mean(axis=(1, 2, 3)) + 1)  # FER has all-black faces
    assert np.ptp(ratios) > 0.1  # each face got its own curve
    # Gamma keeps black black and white white.
    np.testing.assert_allclose(camera.gamma(tf.constant([[[[0.0]], [[255.0]]]]), SEED, 1.0).numpy().ravel(),
                               [0.0, 255.0], atol=1e-3)


def test_occlusion_covers_one_flat_rectangle(faces):
    out = camera.occlude(faces, SEED, 1.0).numpy()
    changed = out != faces.numpy()
    for face_changed, face_out in zip(changed, out):
        rows, cols = np.nonzero(face_changed[..., 0])
        assert len(rows) > 0
        # The covered pixels all lie in one box, filled with one value.
        box = face_out[rows.min():rows.max() + 1, cols.min():cols.max() + 1, 0]
        assert np.ptp(box) == 0


def test_training_pipeline_applies_them(slice_dir):
    train = load_split(slice_dir, "train")
    plain = next(iter(train_dataset(train.images, train.labels, 16, seed=3, augment_strength=0.0)))[0]
    degraded = next(iter(train_dataset(train.images, train.labels, 16, seed=3, augment_strength=0.0, camera=1.0)))[0]
    assert plain.shape == degraded.shape and not np.array_equal(plain, degraded)
