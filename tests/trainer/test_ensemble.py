"""Ensembles built from exported versions: the shipped single-model version and one exported here."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_contract import layout
from fer_trainer import calibrate
from fer_trainer.ensemble import MemberError, build_ensemble, ensemble_to_file, from_version
from fer_trainer.evaluate import load_predictor, tflite_predictor
from fer_trainer.export import export

from .conftest import REPO, run_cli

SHIPPED = REPO / "models" / "emotion"


def _card(folder):
    return json.loads(layout.model_card_path(folder).read_text())


# The newest shipped version that is one network (its card names the architecture).
NEW = [p for p in layout.complete_folders(SHIPPED) if _card(p).get("arch") not in (None, "ensemble")][-1]
NEW_ARCH = _card(NEW)["arch"]


@pytest.fixture(scope="module")
def old(trained_model, real_faces, tmp_path_factory):
    """A version exported here whose card, like those of versions 1-5, does not name its architecture."""
    version = export(trained_model, tmp_path_factory.mktemp("old") / "emotion", real_faces, tflite=False)
    card = _card(version)
    del card["arch"]
    layout.model_card_path(version).write_text(json.dumps(card))
    return version


def _saved_model_probs(folder, faces):
    return load_predictor(folder)(faces)


def _keras_probs(model, faces):
    return tf.nn.softmax(model(faces[..., None].astype(np.float32), training=False)).numpy()


def test_a_version_reads_back_into_its_architecture(real_faces, old):
    # The shipped version's calibration has no weights of its own: its variables are the network's.
    model = from_version(NEW)
    assert model.name.replace("_", "-") == NEW_ARCH
    served = _saved_model_probs(NEW, real_faces)
    np.testing.assert_allclose(calibrate.apply(_keras_probs(model, real_faces), _card(NEW)["calibration"]), served,
                               atol=1e-4)
    np.testing.assert_allclose(_keras_probs(from_version(old, "deep-cnn-context"), real_faces),
                               _saved_model_probs(old, real_faces), atol=1e-5)


def test_a_member_of_the_wrong_architecture_fails_loudly(old):
    with pytest.raises(MemberError, match="does not hold a 'seed-deep-cnn' model"):
        from_version(old, "seed-deep-cnn")
    with pytest.raises(MemberError, match="names no architecture"):
        from_version(old)
    with pytest.raises(MemberError, match="at least two"):
        build_ensemble([from_version(NEW)])


def test_ensemble_serves_the_mean_of_its_members_probabilities(real_faces, tmp_path, old):
    model = ensemble_to_file([f"deep-cnn-context:{old}", str(NEW)], tmp_path / "ensemble.keras")
    # NEW serves calibrated probabilities; as a member it contributes its network's own.
    expected = (_saved_model_probs(old, real_faces) + _keras_probs(from_version(NEW), real_faces)) / 2
    np.testing.assert_allclose(_keras_probs(model, real_faces), expected, atol=1e-5)

    reloaded = keras.models.load_model(tmp_path / "ensemble.keras", compile=False)
    np.testing.assert_allclose(_keras_probs(reloaded, real_faces), expected, atol=1e-5)

    # Exported, it keeps the single-model contract: uint8 pixels in, probabilities out.
    version = export(reloaded, tmp_path / "models", real_faces)
    np.testing.assert_allclose(_saved_model_probs(version, real_faces), expected, atol=1e-5)
    # float16 weights: close, not bit-equal.
    np.testing.assert_allclose(tflite_predictor(version / layout.TFLITE_FILE)(real_faces), expected, atol=5e-3)
    card = _card(version)
    assert card["arch"] == "ensemble" and card["members"] == ["deep-cnn-context", NEW_ARCH]
    # An exported ensemble cannot be nested into another: its members are given instead.
    with pytest.raises(MemberError, match="is an ensemble"):
        from_version(version)


def test_cli_ensemble_rejects_a_missing_member(tmp_path):
    proc = run_cli("ensemble", str(NEW), str(tmp_path / "nope.keras"), "--out", str(tmp_path / "e.keras"))
    assert proc.returncode == 2
    assert "no such model" in proc.stderr and not (tmp_path / "e.keras").exists()


def test_an_exported_ensemble_reads_back_whole(real_faces):
    """Its members reuse layer names (both have `logits`); read-back matches them layer by layer."""
    from fer_trainer.ensemble import ensemble_from_version

    shipped = [p for p in layout.complete_folders(SHIPPED) if _card(p).get("members")][-1]
    model = ensemble_from_version(shipped)
    probs = _keras_probs(model, real_faces)
    if _card(shipped).get("calibration"):  # what it serves is its members' mean, calibrated
        probs = calibrate.apply(probs, _card(shipped)["calibration"])
    np.testing.assert_allclose(probs, _saved_model_probs(shipped, real_faces), atol=1e-4)
    with pytest.raises(MemberError, match="not an ensemble"):
        ensemble_from_version(NEW)
