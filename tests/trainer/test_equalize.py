"""Histogram equalization as the model's first layer (`NAME-eq` architectures): same picture as
OpenCV's, undoes a camera's tone curve, and survives save, export, Serving's graph and TFLite."""

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_contract import layout, signature as sig
from fer_trainer import architectures, ensemble, export
from fer_trainer.equalize import HistogramEqualization
from fer_trainer.evaluate import tflite_predictor


@pytest.fixture(scope="module")
def val_faces(fer_dir) -> np.ndarray:
    paths = sorted((fer_dir / "val").glob("*/*.jpg"))[::60]
    return np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths])


def equalize(images: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(HistogramEqualization()(images[..., None].astype("float32")))[..., 0]


def test_matches_opencv_equalize_hist_to_half_a_grey_level(val_faces):
    expected = np.stack([cv2.equalizeHist(face) for face in val_faces]).astype(np.float32)
    got = equalize(val_faces)
    assert np.abs(got - expected).max() <= 0.5  # OpenCV rounds its table; the layer does not


def test_a_constant_crop_passes_unchanged():
    flat = np.full((2, 48, 48), 77, np.uint8)
    np.testing.assert_array_equal(equalize(flat), flat.astype(np.float32))


def test_undoes_a_camera_tone_curve_and_contrast(val_faces):
    # A darker exposure with a gamma curve and half the contrast: what a real camera may leave.
    darker = np.clip(255.0 * (val_faces / 255.0) ** 1.8 * 0.5 + 10, 0, 255).round().astype(np.uint8)
    raw_gap = np.abs(darker.astype(np.float32) - val_faces).mean()
    equalized_gap = np.abs(equalize(darker) - equalize(val_faces)).mean()
    assert raw_gap > 40 and equalized_gap < raw_gap / 8


def test_plain_weights_start_the_equalized_variant():
    plain = architectures.build("deep-cnn-context-xs")
    variant = architectures.build("deep-cnn-context-xs-eq")
    assert variant.name == "deep_cnn_context_xs_eq" and variant.get_layer("equalize")
    assert [w.shape for w in variant.weights] == [w.shape for w in plain.weights]
    with pytest.raises(ValueError, match="-eq"):
        architectures.build("alexnet-eq")


def test_exported_version_equalizes_in_serving_and_tflite(val_faces, tmp_path):
    model = architectures.build("deep-cnn-context-xs-eq")
    version_dir = export.export(model, tmp_path / "emotion", val_faces[:8])
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(val_faces[..., None].astype("float32"))))

    served = tf.saved_model.load(str(version_dir)).signatures[sig.SERVING_SIGNATURE](
        **{sig.INPUT_KEY: tf.constant(val_faces[..., None])})[sig.OUTPUT_KEY].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    lite = tflite_predictor(version_dir / layout.TFLITE_FILE)(val_faces)
    assert (lite.argmax(1) == served.argmax(1)).mean() >= 0.95  # float16 weights

    # The card names the variant, so the version reads back into Keras with its equalization.
    again = ensemble.from_version(version_dir)
    assert again.name == "deep_cnn_context_xs_eq"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(again(val_faces[..., None].astype("float32")))),
                               expected, atol=1e-5)


def test_saved_keras_model_loads_with_the_layer(tmp_path):
    model = architectures.build("deep-cnn-context-xs-eq")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(again.get_layer("equalize"), HistogramEqualization)
