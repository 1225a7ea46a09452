"""The rebuild of MTCNN (ONNX graphs, run by onnxruntime or OpenCV DNN) against the `mtcnn`
package it replaces: same network outputs, same boxes, on real scenes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_api.faces import mtcnn_nets
from emotion_api.faces.mtcnn_cascade import MTCNNCascade
from emotion_api.faces.registry import LOOSE
from harness.scenes import make_scenes


@pytest.fixture(scope="module")
def library():
    from mtcnn import MTCNN

    return MTCNN(stages="face_and_landmarks_detection", device="CPU:0")


def test_committed_graphs_are_what_the_pinned_mtcnn_wheel_gives():
    # The gateway loads the committed files; a new mtcnn pin must come with rewritten files
    # (python -m emotion_api.faces.mtcnn_export).
    from emotion_api.faces.mtcnn_export import build_graphs

    built = build_graphs()
    assert sorted(built) == sorted(mtcnn_nets.NAMES)
    for name, graph in built.items():
        assert (mtcnn_nets.GRAPH_DIR / f"{name}.onnx").read_bytes() == graph, name


@pytest.mark.parametrize("runtime", ["onnxruntime", "opencv"])
@pytest.mark.parametrize(("stage", "build", "shape"), [
    (1, mtcnn_nets.pnet, (1, 41, 57)),
    (2, mtcnn_nets.rnet, (6, 24, 24)),
    (3, mtcnn_nets.onet, (6, 48, 48)),
])
def test_networks_match_the_keras_models_on_grey_input(library, stage, build, shape, runtime):
    planes = np.random.default_rng(stage).uniform(-1, 1, shape).astype(np.float32)
    expected = library.get_stage(stage_id=stage).model(np.repeat(planes[..., None], 3, axis=-1))
    got = build(runtime)(planes)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        np.testing.assert_allclose(mine, np.asarray(theirs), atol=1e-4)


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="runtime"):
        mtcnn_nets.pnet("tensorrt")


def test_cascade_finds_the_boxes_the_library_finds(library):
    cascade = MTCNNCascade()
    same_count = close = total = 0
    for scene in make_scenes(12, seed=321):
        small = cv2.resize(scene.image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
        theirs = sorted(face["box"] for face in library.detect_faces(
            np.repeat(small[..., None], 3, axis=2), threshold_pnet=LOOSE[0], threshold_rnet=LOOSE[1],
            threshold_onet=LOOSE[2]))
        mine = sorted(np.round([x1, y1, x2 - x1, y2 - y1]).astype(int).tolist()
                      for x1, y1, x2, y2, _ in cascade.detect(small, 20, LOOSE))
        total += 1
        same_count += len(mine) == len(theirs)
        close += len(mine) == len(theirs) and all(
            np.abs(np.subtract(a, b)).max() <= 3 for a, b in zip(mine, theirs, strict=True))
    # Resampling differs from TensorFlow's by float rounding, which can move a borderline
    # proposal across a threshold; allow one scene in twelve to differ.
    assert same_count >= total - 1 and close >= total - 1, (same_count, close, total)


@pytest.mark.parametrize("method", ["union", "min"])
def test_nms_keeps_the_rows_the_library_keeps(method):
    from mtcnn.utils.bboxes import smart_nms_from_bboxes

    from emotion_api.faces.mtcnn_cascade import _nms

    rng = np.random.default_rng(7)
    for trial in range(50):
        n = int(rng.integers(0, 60))
        corners = rng.uniform(0, 200, (n, 2))
        sides = rng.uniform(5, 60, (n, 2))
        boxes = np.column_stack([np.zeros(n), corners, corners + sides, rng.uniform(0, 1, n)])
        for sort in (True, False):
            expected = smart_nms_from_bboxes(boxes, threshold=0.5, method=method, initial_sort=sort)
            np.testing.assert_array_equal(_nms(boxes, 0.5, method, initial_sort=sort).reshape(-1, 6), expected)


def test_batched_crops_sample_like_tensorflow_crop_and_resize():
    import tensorflow as tf

    from emotion_api.faces.mtcnn_cascade import _crops_and_resize

    plane = (make_scenes(1, seed=5)[0].image.astype(np.float32) - 127.5) / 128.0
    h, w = plane.shape
    # Inside, straddling the border, and wholly outside on one side (zero fill).
    boxes = np.array([[100, 80, 160, 140], [-20, -10, 40, 50], [600, 400, 700, 500], [300.5, 200.25, 323.7, 223.9]])
    mine = _crops_and_resize(plane, boxes, 24)
    normalized = boxes[:, [1, 0, 3, 2]] / np.array([h, w, h, w])  # mtcnn: y1, x1, y2, x2 over the size
    theirs = tf.image.crop_and_resize(plane[None, ..., None], normalized, np.zeros(len(boxes), np.int32), (24, 24))
    # OpenCV interpolates with 1/32-pixel weights, TensorFlow in float.
    np.testing.assert_allclose(mine, theirs.numpy()[..., 0], atol=2 / 32)
