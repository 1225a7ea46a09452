"""The scene generator the detection tests and benchmark stand on."""

from __future__ import annotations

import cv2
import numpy as np

from harness.scenes import HEIGHT, WIDTH, face_free_image, make_scene, moving_clip, write_scene


def test_same_seed_same_scene_and_different_seeds_differ():
    a, b, c = make_scene(5), make_scene(5), make_scene(6)
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes and a.labels == b.labels
    assert not np.array_equal(a.image, c.image)


def test_scenes_hold_one_to_three_real_faces_inside_the_frame():
    for seed in range(10):
        scene = make_scene(seed)
        assert scene.image.shape == (HEIGHT, WIDTH) and scene.image.dtype == np.uint8
        assert 1 <= len(scene.boxes) <= 3 and len(scene.boxes) == len(scene.labels) == len(scene.faces)
        for box, face in zip(scene.boxes, scene.faces):
            assert 80 <= box.width == box.height <= 220
            assert 0 <= box.x and box.x + box.width <= WIDTH and 0 <= box.y and box.y + box.height <= HEIGHT
            assert face.shape == (48, 48)
        for i, a in enumerate(scene.boxes):
            assert all(a.iou(b) == 0 for b in scene.boxes[i + 1 :])
        # The background is not blank: real texture, not a flat fill.
        assert scene.image.std() > 15


def test_n_faces_is_honoured():
    assert len(make_scene(3, n_faces=1).boxes) == 1


def test_face_free_images_are_busy():
    image = face_free_image(1)
    assert image.shape == (HEIGHT, WIDTH) and image.std() > 10


def test_write_scene_round_trips_png_and_jpeg(tmp_path):
    scene = make_scene(2)
    png = cv2.imread(str(write_scene(scene, tmp_path / "s.png")), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(png, scene.image)
    jpg = cv2.imread(str(write_scene(scene, tmp_path / "s.jpg")), cv2.IMREAD_GRAYSCALE)
    assert jpg.shape == scene.image.shape and np.abs(jpg.astype(int) - scene.image).mean() < 8


def test_a_moving_clip_s_boxes_follow_its_faces():
    clip = moving_clip(3, 30)
    scene = make_scene(3)
    assert len(clip.frames) == len(clip.boxes) == len(clip.partial) == 30
    assert clip.boxes[0] and not np.array_equal(clip.frames[0], clip.frames[-1])
    faces = [cv2.resize(face, (48, 48)).astype(np.float32) for face in scene.faces]
    checked = 0
    for frame, boxes in zip(clip.frames, clip.boxes):
        for box in boxes:
            assert 0 <= box.x and box.x + box.width <= WIDTH and 0 <= box.y and box.y + box.height <= HEIGHT
            cut = cv2.resize(frame[box.y:box.y + box.height, box.x:box.x + box.width], (48, 48)).astype(np.float32)
            # The pixels inside each truth box are one of the pasted faces, moved and scaled along.
            assert max(np.corrcoef(cut.ravel(), face.ravel())[0, 1] for face in faces) > 0.9
            checked += 1
    assert checked >= 30
