"""Calibration: fitted parameters, the figures it reports, and the model it folds them into."""

import json

import numpy as np
import pytest
import tensorflow as tf

from emotion_contract import layout
from fer_trainer import calibrate, export
from fer_trainer.data import load_split
from fer_trainer.evaluate import load_predictor

from .conftest import REPO

SHIPPED = REPO / "models" / "emotion"
SERVED = SHIPPED / str(layout.newest_version(SHIPPED))


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_temperature_scaling_recovers_a_known_overconfidence():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (4000, 7))
    labels = np.array([rng.choice(7, p=p) for p in _softmax(logits)])  # labels drawn from the true probabilities
    overconfident = _softmax(3.0 * logits)
    assert calibrate.fit_temperature(overconfident, labels) == pytest.approx(3.0, rel=0.1)
    assert calibrate.ece(_softmax(logits), labels) < 0.03 < calibrate.ece(overconfident, labels)


@pytest.fixture(scope="module")
def val_probs(fer_dir):
    """The served model's probabilities on 800 real val faces."""
    val = load_split(fer_dir, "val")
    pick = np.random.default_rng(1).permutation(len(val))[:800]
    return load_predictor(SERVED)(val.images[pick]), val.labels[pick]


@pytest.fixture(scope="module")
def raw_val_probs(fer_dir):
    """The uncalibrated probabilities of a small trained network (the newest single-network
    version read back without its calibration) on 800 real val faces."""
    from fer_trainer.ensemble import from_version

    newest = [p for p in layout.complete_folders(SHIPPED) if layout.model_card_path(p).is_file()
              and json.loads(layout.model_card_path(p).read_text()).get("arch") not in (None, "ensemble")][-1]
    model = from_version(newest)
    val = load_split(fer_dir, "val")
    pick = np.random.default_rng(1).permutation(len(val))[:800]
    logits = model.predict(val.images[pick][..., None].astype(np.float32), verbose=0)
    return tf.nn.softmax(logits).numpy(), val.labels[pick]


def test_calibration_lowers_nll_on_held_out_val_faces(raw_val_probs):
    sharp, labels = raw_val_probs
    fit_on, held_out = slice(0, 400), slice(400, 800)
    for method in ("temperature", "vector"):
        params = calibrate.fit(sharp[fit_on], labels[fit_on], method)
        after = calibrate.apply(sharp[held_out], params)
        assert calibrate.nll(after, labels[held_out]) < calibrate.nll(sharp[held_out], labels[held_out]), method
    report = calibrate.calibrate(sharp, labels)
    held = report["val_2fold_heldout"]
    assert held["after"]["nll"] < held["before"]["nll"] and report["method"] in ("temperature", "vector")


def test_uncertain_threshold_is_the_lowest_that_keeps_80_percent(val_probs):
    probs, labels = val_probs
    found = calibrate.uncertain_threshold(probs, labels)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    assert correct[conf >= found["threshold"]].mean() >= 0.8
    assert found["flagged_share"] == pytest.approx((conf < found["threshold"]).mean())
    lower = found["threshold"] - 0.05
    assert correct[conf >= lower].mean() < 0.8 or lower <= conf.min()


def test_folded_calibration_is_what_the_saved_model_serves(trained_model, real_faces, tmp_path):
    raw = tf.nn.softmax(trained_model(real_faces[..., None].astype(np.float32), training=False)).numpy()
    rng = np.random.default_rng(5)  # a vector scaling of the size fits give on val
    params = {"method": "vector", "class_scale": rng.uniform(0.6, 1.2, 7).tolist(),
              "class_bias": rng.normal(0, 0.3, 7).tolist()}
    version = export.export(calibrate.with_calibration(trained_model, params), tmp_path / "emotion", real_faces,
                            card={"calibration": params})
    served = load_predictor(version)(real_faces)
    np.testing.assert_allclose(served, calibrate.apply(raw, params), atol=1e-4)  # float32 graph vs float64 numpy
    card = json.loads(layout.model_card_path(version).read_text())
    assert card["calibration"]["class_scale"] == pytest.approx(params["class_scale"])
    assert card["arch"] == "deep-cnn-context"  # the card names what the calibration wraps


def test_repeated_splits_average_the_two_fold_figure_over_seeds(raw_val_probs):
    sharp, labels = raw_val_probs
    one = calibrate.repeated_two_fold(sharp, labels, "temperature", splits=1)
    assert one["ece_mean"] == pytest.approx(calibrate.two_fold(sharp, labels, "temperature")["after"]["ece"])
    assert one["ece_std"] == 0.0
    many = calibrate.repeated_two_fold(sharp, labels, "temperature", splits=6)
    eces = [calibrate.two_fold(sharp, labels, "temperature", calibrate.SPLIT_SEED + i)["after"]["ece"] for i in range(6)]
    assert many["ece_mean"] == pytest.approx(np.mean(eces)) and many["ece_std"] == pytest.approx(np.std(eces))
    assert many["ece_std"] > 0  # 800 faces: the split moves the figure, which is why the mean is reported


def test_ece_noise_floor_shrinks_with_more_faces():
    rng = np.random.default_rng(3)
    probs = _softmax(rng.normal(0, 2, (5000, 7)))
    small, large = calibrate.ece_noise_floor(probs, 300), calibrate.ece_noise_floor(probs, 3000)
    assert 0 < large < small < 0.2
