import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from emotion_contract import layout, signature as sig
from emotion_contract.labels import EMOTIONS
from fer_trainer import architectures, export
from fer_trainer.data import Split, load_split
from fer_trainer.evaluate import evaluate_to_folder, tflite_predictor
from fer_trainer.train import Recipe, build_model, fit

from .conftest import StopAfterFirstEpoch, run_cli


@pytest.mark.parametrize("arch", sorted(architectures.ARCHITECTURES))
def test_every_architecture_takes_48x48_pixels_and_gives_7_logits(arch):
    model = architectures.build(arch)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, 7)


@pytest.mark.parametrize("arch", sorted(architectures.ARCHITECTURES))
def test_every_architecture_takes_another_input_shape_and_label_set_without_an_edit(arch):
    model = architectures.build(arch, input_shape=(64, 64, 1), num_classes=3)
    assert model.input_shape == (None, 64, 64, 1)
    assert model.output_shape == (None, 3)


def test_unknown_architecture_lists_the_choices():
    with pytest.raises(ValueError, match="seed-cnn"):
        architectures.build("alexnet")


def steps_lower_loss(train: Split, recipe: Recipe, steps: int) -> tuple[float, float]:
    """Training loss at the first and the last of a few steps on one batch: the cheapest proof that
    the model, loss and optimizer learn. Training-mode loss, because inference-mode BatchNorm
    statistics barely move in a few steps."""
    model = build_model(recipe, max(steps, 1))
    x = train.images[..., None].astype(np.float32)
    y = keras.utils.to_categorical(train.labels, len(EMOTIONS))
    losses = model.fit(x, y, batch_size=len(x), epochs=steps, verbose=0, shuffle=False).history["loss"]
    return float(losses[0]), float(losses[-1])


def test_a_few_steps_lower_the_loss(slice_dir):
    train = load_split(slice_dir, "train")
    before, after = steps_lower_loss(train, Recipe(label_smoothing=0.0, schedule="plateau"), steps=12)
    assert after < before * 0.7


def test_interrupted_fit_resumes_where_it_stopped(slice_dir, tmp_path):
    train, val = load_split(slice_dir, "train"), load_split(slice_dir, "val")
    recipe = Recipe(epochs=2, batch_size=16, warmup_epochs=0)
    with pytest.raises(KeyboardInterrupt):
        fit(train, val, tmp_path / "run", recipe, extra_callbacks=[StopAfterFirstEpoch()])
    assert (tmp_path / "run" / "best.keras").exists()
    with pytest.raises(FileExistsError, match="--resume"):
        fit(train, val, tmp_path / "run", recipe)

    fit(train, val, tmp_path / "run", recipe, resume=True)
    epochs = [line.split(",")[0] for line in (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1"]  # epoch 0 was not trained again
    state = json.loads((tmp_path / "run" / "run.json").read_text())
    assert state["epochs_done"] == 2 and len(state["images_per_s"]) == 2
    with pytest.raises(FileExistsError, match="finished"):
        fit(train, val, tmp_path / "run", recipe, resume=True)


def test_warm_start_begins_from_the_given_model(trained_model, real_faces, tmp_path):
    trained_model.save(tmp_path / "earlier.keras")
    x = real_faces[..., None].astype("float32")
    warm = build_model(Recipe(init_from=str(tmp_path / "earlier.keras")), steps_per_epoch=4)
    np.testing.assert_allclose(warm(x, training=False), trained_model(x, training=False), atol=1e-5)
    cold = build_model(Recipe(), steps_per_epoch=4)
    assert not np.allclose(cold(x, training=False), trained_model(x, training=False), atol=1e-3)
    with pytest.raises(ValueError):  # weights of another architecture do not fit
        build_model(Recipe(arch="seed-cnn", init_from=str(tmp_path / "earlier.keras")), steps_per_epoch=4)


def test_saved_model_matches_keras_model(trained_model, real_faces, tmp_path):
    version_dir = export.export(trained_model, tmp_path / "emotion", real_faces)
    loaded = tf.saved_model.load(str(version_dir))
    served = loaded.signatures[sig.SERVING_SIGNATURE](**{sig.INPUT_KEY: tf.constant(real_faces[..., None])})
    probs = served[sig.OUTPUT_KEY].numpy()
    expected = tf.nn.softmax(trained_model(real_faces[..., None].astype("float32"), training=False)).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)

    meta = loaded.signatures[sig.METADATA_SIGNATURE](**{sig.METADATA_INPUT_KEY: tf.constant(["x"])})
    assert [s.decode() for s in meta[sig.LABELS_KEY].numpy()[0]] == list(EMOTIONS)
    assert meta[sig.INPUT_SHAPE_KEY].numpy()[0].tolist() == [48, 48, 1]
    assert (version_dir / "assets" / layout.LABELS_FILE).read_text().split() == list(EMOTIONS)
    card = json.loads((version_dir / "assets" / layout.MODEL_CARD_FILE).read_text())
    assert card["version"] == 1 and card["input_shape"] == [48, 48, 1]

    lite = tflite_predictor(version_dir / layout.TFLITE_FILE)(real_faces)
    np.testing.assert_allclose(lite, probs, atol=1e-4)


def test_warmup_records_are_real_predict_requests(trained_model, real_faces, tmp_path):
    from tensorflow_serving.apis import prediction_log_pb2

    version_dir = export.export(trained_model, tmp_path / "emotion", real_faces, tflite=False)
    records = list(tf.data.TFRecordDataset(str(version_dir / layout.WARMUP_FILE)).as_numpy_iterator())
    assert records
    for raw in records:
        log = prediction_log_pb2.PredictionLog.FromString(raw)
        request = log.predict_log.request
        assert request.model_spec.signature_name == sig.SERVING_SIGNATURE
        pixels = tf.make_ndarray(request.inputs[sig.INPUT_KEY])
        assert pixels.dtype == np.uint8 and pixels.shape[1:] == (48, 48, 1)
        np.testing.assert_array_equal(pixels[:, ..., 0], real_faces[:len(pixels)])


def test_versions_number_upward(trained_model, real_faces, tmp_path):
    base = tmp_path / "emotion"
    (base / "7").mkdir(parents=True)
    (base / "notes").mkdir()
    first = export.export(trained_model, base, real_faces, tflite=False)
    second = export.export(trained_model, base, real_faces, tflite=False)
    assert (first.name, second.name) == ("8", "9")


def test_interrupted_export_leaves_no_visible_version(trained_model, real_faces, tmp_path):
    base = tmp_path / "emotion"

    def crash(staging, version):
        assert (staging / "saved_model.pb").exists()  # fully written, still hidden
        assert layout.complete_versions(base) == [] and layout.next_version(base) == 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export.export(trained_model, base, real_faces, tflite=False, _before_publish=crash)
    assert list(base.iterdir()) == []
    # A staging folder left by a killed process is not a version either.
    (base / ".staging-dead").mkdir()
    assert layout.complete_versions(base) == [] and layout.next_version(base) == 1


def test_evaluate_writes_the_report_folder(trained_model, real_faces, slice_dir, tmp_path):
    version_dir = export.export(trained_model, tmp_path / "emotion", real_faces)
    metrics = evaluate_to_folder(version_dir, str(slice_dir), "val", tmp_path / "report")
    for name in ("metrics.json", "confusion_matrix.png", "report.md"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert saved["images"] == len(load_split(slice_dir, "val"))
    assert set(saved["plain"]["per_class"]) == set(EMOTIONS)
    assert 0 <= saved["flip_tta"]["macro_f1"] <= 1
    assert metrics["tflite"]["top1_agreement"] == 1.0


def test_cli_help_documents_the_subcommands():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for command in ("train", "evaluate", "export"):
        assert command in out


def test_cli_reports_bad_dataset_as_an_error(tmp_path):
    result = run_cli("train", "--data", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "dataset not found" in result.stderr
