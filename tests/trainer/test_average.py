import json

import keras
import numpy as np
import pytest

from fer_trainer import architectures
from fer_trainer.average import average_weights, recalibrate_batchnorm
from fer_trainer.data import load_split
from fer_trainer.train import Recipe, fit

from .conftest import run_cli


def _norms(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def test_average_is_the_mean_of_the_checkpoints(trained_model, tmp_path):
    trained_model.save(tmp_path / "a.keras")
    other = architectures.build(architectures.DEFAULT_ARCH)
    other.save_weights(tmp_path / "b.weights.h5")
    averaged = average_weights(architectures.DEFAULT_ARCH, [tmp_path / "a.keras", tmp_path / "b.weights.h5"])
    for got, a, b in zip(averaged.get_weights(), trained_model.get_weights(), other.get_weights()):
        np.testing.assert_allclose(got, (a + b) / 2, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError):  # a checkpoint of another architecture does not fit
        average_weights("seed-cnn", [tmp_path / "a.keras"])


def test_recalibrated_statistics_are_those_of_the_images(trained_model, slice_dir, tmp_path):
    images = load_split(slice_dir, "train").images
    trained_model.save(tmp_path / "model.keras")
    model = keras.models.load_model(tmp_path / "model.keras")  # a copy: the fixture is shared
    first = _norms(model)[0]
    momentum = first.momentum
    # The first BatchNorm sees the first conv's output; its mean over all images (in two
    # batches of different sizes) is what the moving mean must become.
    conv_out = keras.Model(model.input, first.input)(images[..., None].astype(np.float32)).numpy()
    recalibrate_batchnorm(model, images, batch_size=len(images) // 2 + 1)
    halves = [conv_out[: len(images) // 2 + 1], conv_out[len(images) // 2 + 1:]]
    expected_mean = np.mean([h.mean(axis=(0, 1, 2)) for h in halves], axis=0)
    expected_var = np.mean([h.var(axis=(0, 1, 2)) for h in halves], axis=0)
    np.testing.assert_allclose(first.moving_mean.numpy(), expected_mean, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(first.moving_variance.numpy(), expected_var, rtol=1e-3, atol=1e-4)
    # Serving behaviour is restored: the layers keep their momentum and dropout.
    assert first.momentum == momentum
    assert all(layer.rate > 0 for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout))


def test_kept_epochs_average_into_a_servable_model(slice_dir, tmp_path):
    """`train --keep-epochs` leaves one weights file per epoch; `average` turns them into one model."""
    train, val = load_split(slice_dir, "train"), load_split(slice_dir, "val")
    run = tmp_path / "run"
    fit(train, val, run, Recipe(epochs=2, batch_size=16, warmup_epochs=0, keep_epochs=True))
    snapshots = sorted(run.glob("epoch-*.weights.h5"))
    assert [p.name for p in snapshots] == ["epoch-001.weights.h5", "epoch-002.weights.h5"]
    assert not list(run.glob("*.tmp.*"))
    out = tmp_path / "swa.keras"
    proc = run_cli("average", *map(str, snapshots), "--data", str(slice_dir), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    model = keras.models.load_model(out, compile=False)
    probs = keras.ops.softmax(model(val.images[..., None].astype(np.float32), training=False)).numpy()
    assert probs.shape == (len(val), 7) and np.isfinite(probs).all()
    assert json.loads((run / "run.json").read_text())["recipe"]["keep_epochs"] is True
    missing = run_cli("average", str(run / "epoch-009.weights.h5"), "--data", str(slice_dir), "--out", str(out))
    assert missing.returncode == 2 and "no such checkpoint" in missing.stderr and "epoch-009" in missing.stderr


def test_train_export_ships_the_recalibrated_best_checkpoint(slice_dir, tmp_path):
    run, models = tmp_path / "run", tmp_path / "emotion"
    proc = run_cli("train", "--data", str(slice_dir), "--run-dir", str(run), "--models", str(models),
                   "--epochs", "1", "--batch-size", "16", "--warmup-epochs", "0", "--export")
    assert proc.returncode == 0, proc.stderr
    assert (run / "final.keras").is_file() and (models / "1" / "saved_model.pb").is_file()
    best = keras.models.load_model(run / "best.keras", compile=False)
    final = keras.models.load_model(run / "final.keras", compile=False)
    # Same learnt weights, new BatchNorm statistics.
    np.testing.assert_array_equal(best.layers[2].kernel.numpy(), final.layers[2].kernel.numpy())
    assert not np.allclose(_norms(best)[0].moving_mean.numpy(), _norms(final)[0].moving_mean.numpy())
