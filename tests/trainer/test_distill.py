"""Distillation with a real teacher (the served version) on real FER-2013 faces."""

import json

import keras
import numpy as np
import pytest

from emotion_contract import layout
from fer_trainer import architectures, export
from fer_trainer.data import load_split
from fer_trainer.distill import CACHE_FILE, DistillationLoss, targets, teacher_probabilities
from fer_trainer.evaluate import load_predictor
from fer_trainer.train import Recipe, compile_model, fit

from .conftest import REPO, StopAfterFirstEpoch, run_cli

SHIPPED = REPO / "models" / "emotion"
SERVED = SHIPPED / str(layout.newest_version(SHIPPED))


def test_teacher_probabilities_are_cached_per_teacher_and_tta(slice_dir, tmp_path):
    images = load_split(slice_dir, "train").images
    plain = teacher_probabilities(str(SERVED), images, tta=False, cache_dir=tmp_path)
    np.testing.assert_allclose(plain, load_predictor(SERVED)(images), atol=1e-6)
    np.testing.assert_allclose(plain.sum(1), 1.0, atol=1e-5)
    stamp = (tmp_path / CACHE_FILE).stat().st_mtime_ns
    np.testing.assert_array_equal(teacher_probabilities(str(SERVED), images, tta=False, cache_dir=tmp_path), plain)
    assert (tmp_path / CACHE_FILE).stat().st_mtime_ns == stamp  # read back, not recomputed
    flipped = load_predictor(SERVED)(np.ascontiguousarray(images[:, :, ::-1]))
    tta = teacher_probabilities(str(SERVED), images, tta=True, cache_dir=tmp_path)
    np.testing.assert_allclose(tta, (plain + flipped) / 2, atol=1e-6)


def test_distillation_loss_is_the_weighted_sum_of_its_two_terms():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 7)).astype(np.float32)
    teacher = rng.dirichlet(np.ones(7), 5).astype(np.float32)
    labels = rng.integers(0, 7, 5)
    y = targets(teacher, labels)
    soft_only = DistillationLoss(temperature=2.0, weight=1.0, label_smoothing=0.0)(y, logits)
    hard_only = DistillationLoss(temperature=2.0, weight=0.0, label_smoothing=0.0)(y, logits)
    mixed = DistillationLoss(temperature=2.0, weight=0.3, label_smoothing=0.0)(y, logits)
    assert float(mixed) == pytest.approx(0.3 * float(soft_only) + 0.7 * float(hard_only), rel=1e-5)
    expected_hard = keras.losses.CategoricalCrossentropy(from_logits=True)(np.eye(7)[labels], logits)
    assert float(hard_only) == pytest.approx(float(expected_hard), rel=1e-5)
    # The soft term is smallest when the student already says what the teacher says.
    log_t = np.log(teacher) * 2.0
    assert float(DistillationLoss(2.0, 1.0, 0.0)(y, log_t)) < float(soft_only)


def test_a_few_steps_lower_the_distillation_loss(slice_dir, tmp_path):
    train = load_split(slice_dir, "train")
    y = targets(teacher_probabilities(str(SERVED), train.images, True, tmp_path), train.labels)
    recipe = Recipe(arch="deep-cnn-context-xs", teacher=str(SERVED), schedule="plateau")
    keras.utils.set_random_seed(0)
    model = compile_model(architectures.build(recipe.arch), recipe, steps_per_epoch=1)
    x = train.images[..., None].astype(np.float32)
    losses = model.fit(x, y, batch_size=len(x), epochs=12, verbose=0, shuffle=False).history["loss"]
    assert losses[-1] < losses[0] * 0.8


def test_cli_distils_and_exports_a_calibrated_student_with_int8(slice_dir, tmp_path):
    run = run_cli("train", "--data", str(slice_dir), "--run-dir", str(tmp_path / "run"), "--arch", "deep-cnn-context-xs",
                  "--epochs", "1", "--batch-size", "16", "--teacher", str(SERVED), "--camera", "1.0",
                  "--export", "--int8", "--models", str(tmp_path / "models"))
    assert run.returncode == 0, run.stderr[-3000:]
    version = tmp_path / "models" / "1"
    card = json.loads(layout.model_card_path(version).read_text())
    assert card["arch"] == "deep-cnn-context-xs" and card["multiply_adds_per_face"] < 50e6
    assert card["calibration"]["method"] in ("temperature", "vector", "top-label") and 0 <= card["uncertain_threshold"] <= 1
    assert json.loads((tmp_path / "run" / "run.json").read_text())["recipe"]["teacher"] == str(SERVED)
    # The exported student loads and answers with probabilities.
    faces = load_split(slice_dir, "val").images
    probs = load_predictor(version)(faces)
    assert probs.shape == (len(faces), 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    metrics = json.loads((version / layout.REPORT_DIR / "metrics.json").read_text())
    for key in ("tflite", "tflite_int8"):  # agreement is measured on the val images, not assumed
        assert 0.0 <= metrics[key]["top1_agreement"] <= 1.0 and metrics[key]["file_bytes"] > 0
    # An int8 copy stays beside the SavedModel only when it loses at most 0.3 points of val.
    int8_loss = metrics["plain"]["accuracy"] - metrics["tflite_int8"]["accuracy"]
    assert metrics["tflite_int8"]["kept"] == (int8_loss <= export.INT8_MAX_ACCURACY_LOSS)
    assert (version / layout.TFLITE_INT8_FILE).exists() == metrics["tflite_int8"]["kept"]
    card_md = (version / layout.REPORT_DIR / layout.MODEL_CARD_MD).read_text()
    for section in ("Architecture and cost", "Accuracy on val", "Calibration", "Known limits", "reproduce"):
        assert section in card_md
    assert "mean ± sd of 25 random 2-fold splits" in card_md  # one split's held-out ECE is noisy
    assert (version / layout.REPORT_DIR / "reliability.png").stat().st_size > 0


def test_a_stopped_distillation_run_resumes_in_a_new_process(slice_dir, tmp_path):
    # The checkpoint is compiled with DistillationLoss; a fresh `--resume` process must know it
    # before it loads the checkpoint, which an in-process resume would not show.
    train, val = load_split(slice_dir, "train"), load_split(slice_dir, "val")
    recipe = Recipe(arch="deep-cnn-context-xs", epochs=2, batch_size=16, warmup_epochs=0, teacher=str(SERVED))
    with pytest.raises(KeyboardInterrupt):
        fit(train, val, tmp_path / "run", recipe, extra_callbacks=[StopAfterFirstEpoch()])
    run = run_cli("train", "--resume", "--data", str(slice_dir), "--run-dir", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resuming after epoch 1" in run.stdout
    assert json.loads((tmp_path / "run" / "run.json").read_text())["epochs_done"] == 2
