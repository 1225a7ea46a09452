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


def _export_nll_gain(folder) -> float:
    metrics = folder / layout.REPORT_DIR / "metrics.json"
    fitted = json.loads(metrics.read_text()).get("calibration") if metrics.is_file() else None
    return fitted["val"]["before"]["nll"] - fitted["val"]["after"]["nll"] if fitted else 0.0


@pytest.fixture(scope="module")
def raw_val_probs(fer_dir):
    """The uncalibrated probabilities of a trained model on all val faces, shuffled: the newest shipped
    version whose calibration had something to correct (it lowered val NLL by at least 0.02 at
    export), read back without it. A distilled student learns from soft targets and can come out
    nearly NLL-calibrated already, which would leave this test nothing to measure. All of val,
    because vector scaling's 14 parameters overfit a few hundred faces."""
    from fer_trainer.ensemble import ensemble_from_version, from_version

    subject = [p for p in layout.complete_folders(SHIPPED) if _export_nll_gain(p) >= 0.02][-1]
    card = json.loads(layout.model_card_path(subject).read_text())
    model = ensemble_from_version(subject) if card.get("members") else from_version(subject)
    val = load_split(fer_dir, "val")
    pick = np.random.default_rng(1).permutation(len(val))
    logits = model.predict(val.images[pick][..., None].astype(np.float32), verbose=0)
    return tf.nn.softmax(logits).numpy(), val.labels[pick]


def test_calibration_lowers_nll_on_held_out_val_faces(raw_val_probs):
    sharp, labels = raw_val_probs
    fit_on, held_out = slice(0, len(labels) // 2), slice(len(labels) // 2, None)
    for method in calibrate.METHODS:
        params = calibrate.fit(sharp[fit_on], labels[fit_on], method)
        after = calibrate.apply(sharp[held_out], params)
        assert calibrate.nll(after, labels[held_out]) < calibrate.nll(sharp[held_out], labels[held_out]), method
    report = calibrate.calibrate(sharp, labels)
    held = report["val_2fold_heldout"]
    assert held["after"]["nll"] < held["before"]["nll"] and report["method"] in calibrate.METHODS
    repeated = report["val_2fold_heldout_repeated_by_method"]
    if report["method"] == "top-label":  # chosen only for a lower mean held-out ECE
        assert repeated["top-label"]["ece_mean"] < min(repeated["temperature"]["ece_mean"], repeated["vector"]["ece_mean"])


def test_top_label_scaling_recalibrates_the_top_probability_and_keeps_every_answer():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (6000, 7))
    labels = np.array([rng.choice(7, p=p) for p in _softmax(logits)])
    # Overconfident on faces it calls class 0, underconfident on the others: one temperature
    # cannot fix both, a scale and bias per predicted class can.
    skewed = np.where((logits.argmax(1) == 0)[:, None], 2.5 * logits, 0.6 * logits)
    probs = _softmax(skewed)
    fit_on, held_out = slice(0, 3000), slice(3000, None)
    top = calibrate.apply(probs[held_out], calibrate.fit(probs[fit_on], labels[fit_on], "top-label"))
    temp = calibrate.apply(probs[held_out], calibrate.fit(probs[fit_on], labels[fit_on], "temperature"))
    assert (top.argmax(1) == probs[held_out].argmax(1)).all()
    np.testing.assert_allclose(top.sum(1), 1.0, atol=1e-9)
    assert calibrate.ece(top, labels[held_out]) < 0.03 < calibrate.ece(temp, labels[held_out])
    # The other classes keep their proportions to each other (log probabilities are floored at
    # 1e-7, so compare rows where none is near it).
    others = ~np.eye(7, dtype=bool)[top.argmax(1)]
    share_after = np.where(others, top, 0) / np.where(others, top, 0).sum(1, keepdims=True)
    share_before = np.where(others, probs[held_out], 0) / np.where(others, probs[held_out], 0).sum(1, keepdims=True)
    visible = others & (np.where(others, probs[held_out], 1).min(1) > 1e-5)[:, None]
    np.testing.assert_allclose(share_after[visible], share_before[visible], rtol=1e-3, atol=1e-6)


def test_uncertain_threshold_is_the_lowest_that_keeps_80_percent(val_probs):
    probs, labels = val_probs
    found = calibrate.uncertain_threshold(probs, labels)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    assert correct[conf >= found["threshold"]].mean() >= 0.8
    assert found["flagged_share"] == pytest.approx((conf < found["threshold"]).mean())
    lower = found["threshold"] - 0.05
    assert correct[conf >= lower].mean() < 0.8 or lower <= conf.min()


@pytest.mark.parametrize("method", ["vector", "top-label"])
def test_folded_calibration_is_what_the_saved_model_serves(trained_model, real_faces, tmp_path, method):
    from fer_trainer.evaluate import tflite_predictor

    raw = tf.nn.softmax(trained_model(real_faces[..., None].astype(np.float32), training=False)).numpy()
    rng = np.random.default_rng(5)  # parameters of the size fits give on val
    scale, bias = rng.uniform(0.6, 1.2, 7).tolist(), rng.normal(0, 0.3, 7).tolist()
    params = ({"method": method, "class_scale": scale, "class_bias": bias} if method == "vector"
              else {"method": method, "top_scale": scale, "top_bias": bias})
    version = export.export(calibrate.with_calibration(trained_model, params), tmp_path / "emotion", real_faces,
                            card={"calibration": params})
    served = load_predictor(version)(real_faces)
    np.testing.assert_allclose(served, calibrate.apply(raw, params), atol=1e-4)  # float32 graph vs float64 numpy
    # The TFLite copy (float16 weights) runs the same calibration op for op.
    lite = tflite_predictor(version / layout.TFLITE_FILE)(real_faces)
    assert (lite.argmax(1) == served.argmax(1)).mean() >= 0.95 and np.abs(lite - served).max() < 0.05
    if method == "top-label":
        assert (served.argmax(1) == raw.argmax(1)).all()
    card = json.loads(layout.model_card_path(version).read_text())
    assert card["calibration"]["method"] == method
    for key, values in params.items():
        if key != "method":
            assert card["calibration"][key] == pytest.approx(values)
    assert card["arch"] == "deep-cnn-context"  # the card names what the calibration wraps


def test_repeated_splits_average_the_two_fold_figure_over_seeds(raw_val_probs):
    sharp, labels = raw_val_probs
    one = calibrate.repeated_two_fold(sharp, labels, "temperature", splits=1)
    assert one["ece_mean"] == pytest.approx(calibrate.two_fold(sharp, labels, "temperature")["after"]["ece"])
    assert one["ece_std"] == 0.0
    many = calibrate.repeated_two_fold(sharp, labels, "temperature", splits=6)
    eces = [calibrate.two_fold(sharp, labels, "temperature", calibrate.SPLIT_SEED + i)["after"]["ece"] for i in range(6)]
    assert many["ece_mean"] == pytest.approx(np.mean(eces)) and many["ece_std"] == pytest.approx(np.std(eces))
    assert many["ece_std"] > 0  # even on all of val the split moves the figure, which is why the mean is reported


def test_ece_noise_floor_shrinks_with_more_faces():
    rng = np.random.default_rng(3)
    probs = _softmax(rng.normal(0, 2, (5000, 7)))
    small, large = calibrate.ece_noise_floor(probs, 300), calibrate.ece_noise_floor(probs, 3000)
    assert 0 < large < small < 0.2
