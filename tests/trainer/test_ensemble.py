"""Ensembles built from the shipped versions themselves, on real faces."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_trainer import signature as sig
from fer_trainer.ensemble import MemberError, build_ensemble, ensemble_to_file, from_version
from fer_trainer.evaluate import load_predictor, tflite_predictor
from fer_trainer.export import export

from .conftest import REPO, run_cli

SHIPPED = REPO / "models" / "emotion"
# Versions 1-5 predate the model card's `arch` field; all five are vgg-lite.
OLD, NEW = SHIPPED / "4", SHIPPED / "5"


def _saved_model_probs(folder, faces):
    return load_predictor(folder)(faces)


def _keras_probs(model, faces):
    return tf.nn.softmax(model(faces[..., None].astype(np.float32), training=False)).numpy()


def test_a_version_reads_back_into_its_architecture(real_faces):
    model = from_version(NEW, "vgg-lite")
    np.testing.assert_allclose(_keras_probs(model, real_faces), _saved_model_probs(NEW, real_faces), atol=1e-5)


def test_a_member_of_the_wrong_architecture_fails_loudly():
    with pytest.raises(MemberError, match="does not hold a 'seed-deep-cnn' model"):
        from_version(NEW, "seed-deep-cnn")
    with pytest.raises(MemberError, match="names no architecture"):
        from_version(NEW)
    with pytest.raises(MemberError, match="at least two"):
        build_ensemble([from_version(NEW, "vgg-lite")])


def test_ensemble_serves_the_mean_of_its_members_probabilities(real_faces, tmp_path):
    model = ensemble_to_file([f"vgg-lite:{OLD}", f"vgg-lite:{NEW}"], tmp_path / "ensemble.keras")
    expected = (_saved_model_probs(OLD, real_faces) + _saved_model_probs(NEW, real_faces)) / 2
    np.testing.assert_allclose(_keras_probs(model, real_faces), expected, atol=1e-5)

    reloaded = keras.models.load_model(tmp_path / "ensemble.keras", compile=False)
    np.testing.assert_allclose(_keras_probs(reloaded, real_faces), expected, atol=1e-5)

    # Exported, it keeps the single-model contract: uint8 pixels in, probabilities out.
    version = export(reloaded, tmp_path / "models", real_faces)
    np.testing.assert_allclose(_saved_model_probs(version, real_faces), expected, atol=1e-5)
    np.testing.assert_allclose(tflite_predictor(version / sig.TFLITE_FILE)(real_faces), expected, atol=1e-5)
    card = json.loads((version / "assets" / sig.MODEL_CARD_FILE).read_text())
    assert card["arch"] == "ensemble" and card["members"] == ["vgg-lite", "vgg-lite"]
    # An exported ensemble cannot be nested into another: its members are given instead.
    with pytest.raises(MemberError, match="is an ensemble"):
        from_version(version)


def test_cli_ensemble_rejects_a_missing_member(tmp_path):
    proc = run_cli("ensemble", f"vgg-lite:{NEW}", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "e.keras"))
    assert proc.returncode == 2
    assert "no such model" in proc.stderr and not (tmp_path / "e.keras").exists()
