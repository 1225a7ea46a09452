"""Int8 copies of the shipped equalized model: they must run on every crop a camera sends, and a
copy that cannot is recorded as such, never published."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from emotion_contract import layout
from fer_trainer import architectures, export
from fer_trainer.data import load_split
from fer_trainer.evaluate import checked_copy, edge_faces, load_predictor, tflite_predictor
from fer_trainer.tflite import FULL_INTEGER, INTEGER_KERNELS, needs_float_ops, write_int8

from .conftest import REPO

SHIPPED = REPO / "models" / "emotion"


def _newest_equalized():
    for version in sorted((int(p.name) for p in layout.complete_folders(SHIPPED)), reverse=True):
        card = json.loads(layout.model_card_path(SHIPPED / str(version)).read_text())
        if card.get("arch", "").endswith(architectures.EQUALIZED_SUFFIX):
            return SHIPPED / str(version)
    raise AssertionError("no equalized version is shipped")


def test_an_equalized_version_gets_int8_kernels_that_agree_and_run_on_blank_crops(slice_dir, tmp_path):
    folder = tmp_path / "v"
    shutil.copytree(_newest_equalized(), folder)
    metrics = export.rewrite_tflite(folder, str(slice_dir), int8=True)
    check = metrics["tflite_int8"]
    assert check["form"] == INTEGER_KERNELS and check["kept"] is True
    assert check["top1_agreement"] >= 0.9  # 99.1 % on all of val for version 10
    copy = folder / layout.TFLITE_INT8_FILE
    assert np.isfinite(tflite_predictor(copy)(edge_faces())).all()
    # The convolutions really run in int8: their weights are stored as int8 tensors.
    interpreter = tf.lite.Interpreter(model_path=str(copy))
    convs = [op for op in interpreter._get_ops_details() if op["op_name"] == "CONV_2D"]
    weights = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    assert convs and all(weights[op["inputs"][1]] == np.int8 for op in convs)
    card_md = (folder / layout.REPORT_DIR / layout.MODEL_CARD_MD).read_text()
    assert f"TFLite int8 ({INTEGER_KERNELS})" in card_md


def test_a_full_integer_copy_that_stops_on_a_near_blank_crop_is_recorded_and_not_kept(slice_dir, tmp_path):
    model = architectures.build("deep-cnn-context-xs" + architectures.EQUALIZED_SUFFIX)
    assert needs_float_ops(model) and not needs_float_ops(architectures.build("deep-cnn-context-xs"))
    val = load_split(slice_dir, "val")
    copy = tmp_path / layout.TFLITE_INT8_FILE
    assert write_int8(model, load_split(slice_dir, "train").images, copy, full_integer=True) == FULL_INTEGER
    reference = np.full((len(val.images), 7), 1 / 7, np.float32)
    # The float16 copy is part of every version: a copy of it that stops stays an error.
    with pytest.raises(RuntimeError, match="DIV"):
        checked_copy("tflite", copy, val.images, val.labels, reference)
    # An int8 copy is optional: its failure is recorded. A lone bright pixel leaves a histogram
    # spread of 1, which int8 rounds to a divisor of 0.
    check = checked_copy("tflite_int8", copy, val.images, val.labels, reference)
    assert "DIV" in check["error"] and check["file_bytes"] > 0
    metrics = {"tflite_int8": check}
    export._keep_int8_if_close(tmp_path, metrics, plain_accuracy=0.5)
    assert metrics["tflite_int8"]["kept"] is False and not copy.exists()
