"""The `emotion` command as a user runs it: a subprocess, in-process model or --url gateway."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from emotion_api.cli.draw import COLORS
from emotion_api.core.config import DEFAULT_UNCERTAIN_THRESHOLD
from emotion_contract.labels import EMOTIONS
from harness.http import post_image
from harness.media import jittered_clip, portrait, write_mp4
from harness.servers import MODEL_DIR, REPO, python_env
from tests.conftest import faces_by_label

pytestmark = pytest.mark.slow


def emotion(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nice", "-n", "19", sys.executable, "-m", "emotion_api.cli", *args],
        # In-process answers are compared with the `gateway` fixture's, which runs the SavedModels.
        cwd=REPO, env=python_env({"MODEL_BASE_PATH": str(MODEL_DIR), "EMBEDDED_RUNTIME": "savedmodel"}),
        capture_output=True, text=True, timeout=timeout,
    )


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=codec_type,width,height,nb_read_frames", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)["streams"][0]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def count_changes(labels: list[str | None]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:]))


def label_changes(rows: list[dict[str, str]]) -> int:
    return count_changes([row["emotion"] for row in rows if row["track_id"] == "1"])


def test_video_in_process_writes_a_playable_annotated_video_and_a_row_per_frame(tmp_path, artifacts):
    frames = jittered_clip(portrait(320, 240), 12)
    clip = write_mp4(frames, tmp_path / "clip.mp4", fps=10)
    out, table = tmp_path / "annotated.mp4", tmp_path / "frames.csv"
    run = emotion("video", str(clip), "--out", str(out), "--csv", str(table), "--progress")
    assert run.returncode == 0, run.stderr[-3000:]
    shutil.copy(out, artifacts / "annotated.mp4")
    assert "12/12" in run.stderr and "100.0%" in run.stderr  # the progress bar reached the end
    # Searched like a stream (STREAM_FULL_DETECT_EVERY=5): whole on frames 0, 5 and 10 (and after
    # a frame whose region lost the face), around the face followed on the others; the rows
    # below show the face found in every frame.
    whole, around = map(int, re.search(r"(\d+) searched whole, (\d+) around the faces followed", run.stderr).groups())
    assert whole + around == len(frames) and whole >= 3 and around >= 6

    probe = ffprobe(out)
    assert probe["codec_type"] == "video" and (probe["width"], probe["height"]) == (320, 240)
    assert int(probe["nb_read_frames"]) == len(frames)

    rows = read_csv(table)
    assert list(rows[0]) == ["frame", "time_s", "track_id", "x", "y", "width", "height", "emotion", "confidence",
                             "uncertain", *EMOTIONS]
    assert [int(r["frame"]) for r in rows] == list(range(len(frames)))  # one face in every frame
    assert [float(r["time_s"]) for r in rows] == pytest.approx([i / 10 for i in range(len(frames))])
    assert {r["track_id"] for r in rows} == {"1"}
    for row in rows:
        scores = {label: float(row[label]) for label in EMOTIONS}
        assert sum(scores.values()) == pytest.approx(1.0, abs=2e-3)
        assert row["emotion"] == max(scores, key=scores.get)
        # The smoothed confidence is flagged by the gateway's rule and default threshold.
        assert row["uncertain"] == str(float(row["confidence"]) < DEFAULT_UNCERTAIN_THRESHOLD).lower()

    # The label is drawn where the CSV puts the face, in its emotion's colour, just above the box.
    capture = cv2.VideoCapture(str(out))
    ok, annotated = capture.read()
    capture.release()
    assert ok
    x, y = int(rows[0]["x"]), int(rows[0]["y"])
    assert y >= 16, "the clip leaves room above the face for the label"
    label = annotated[y - 12 : y - 2, x + 2 : x + 30].reshape(-1, 3)
    assert np.linalg.norm(np.median(label, axis=0) - np.array(COLORS[rows[0]["emotion"]])) < 60
    before = frames[0][y - 12 : y - 2, x + 2 : x + 30].reshape(-1, 3)
    assert np.linalg.norm(np.median(before, axis=0) - np.array(COLORS[rows[0]["emotion"]])) > 60


def ambiguous_faces(gateway, candidates: int = 70, keep: int = 12) -> list[np.ndarray]:
    """The ``keep`` val faces (among the first few of each class) with the smallest top-two score
    margins: the kind of face whose per-frame label flickers, which smoothing is for."""
    scored = []
    for paths in faces_by_label().values():
        for path in paths[: candidates // len(EMOTIONS) + 1]:
            data = path.read_bytes()
            scores = sorted(post_image(gateway.url, data, params={"detect": "false"}, filename="f.jpg",
                                       content_type="image/jpeg").json()["faces"][0]["scores"].values())
            scored.append((scores[-1] - scores[-2], str(path)))
    return [cv2.imread(path, cv2.IMREAD_GRAYSCALE) for _, path in sorted(scored)[:keep]]


CLEAR_FLICKER = 8  # label changes in 29 frame-to-frame steps


def flickering_clip(gateway) -> list[np.ndarray]:
    """30 jittered frames of one unchanging face whose raw per-frame label changes most often.

    Chosen by trying the most ambiguous faces through the gateway exactly as the clip will be
    seen (detected in the noisy frame, not as a pre-cut crop), so the test keeps its premise
    whichever model version is served. A better model flickers less, so the search goes on
    through more faces until one flickers clearly (a clip with 3 changes, as version 3 gave on
    the first six faces, leaves smoothing no room to halve them)."""
    best, best_changes = None, -1
    for face in ambiguous_faces(gateway):
        if best_changes >= CLEAR_FLICKER:
            break
        base = np.full((240, 320), 128, np.uint8)
        base[40:200, 80:240] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
        clip = jittered_clip(cv2.cvtColor(base, cv2.COLOR_GRAY2BGR), 30, noise=25)
        labels = []
        for frame in clip:
            faces = post_image(gateway.url, cv2.imencode(".jpg", frame)[1].tobytes(), filename="f.jpg",
                               content_type="image/jpeg").json()["faces"]
            labels.append(faces[0]["emotion"] if faces else None)
        changes = count_changes(labels)
        if changes > best_changes:
            best, best_changes = clip, changes
    return best


def test_smoothing_reduces_label_changes_on_a_face_that_does_not_change(gateway, tmp_path):
    clip = write_mp4(flickering_clip(gateway), tmp_path / "noisy.mp4")
    changes = {}
    for smoothing in ("0", "0.8"):
        table = tmp_path / f"frames-{smoothing}.csv"
        run = emotion("video", str(clip), "--csv", str(table), "--smoothing", smoothing, "--url", gateway.url)
        assert run.returncode == 0, run.stderr[-3000:]
        rows = read_csv(table)
        assert sorted({int(r["frame"]) for r in rows}) == list(range(30))
        changes[smoothing] = label_changes(rows)
    print(f"label changes over 30 frames by smoothing: {changes}")
    assert changes["0"] >= 3, f"the raw labels should flicker on this clip: {changes}"
    assert changes["0.8"] <= changes["0"] / 2, f"smoothing should at least halve the label changes: {changes}"


def test_image_prints_the_api_json_per_photo(gateway, portrait_jpg, two_face_png, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    run = emotion("image", str(portrait_jpg), str(two_face_png), str(broken), "--url", gateway.url)
    assert run.returncode == 1  # one photo failed
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0] == post_image(gateway.url, portrait_jpg.read_bytes(), filename="p.jpg", content_type="image/jpeg").json()
    assert lines[1] == post_image(gateway.url, two_face_png.read_bytes()).json()
    assert lines[2]["error"]["code"] == "invalid_image"


def test_image_in_process_matches_the_gateway(gateway, two_face_png):
    run = emotion("image", str(two_face_png))
    assert run.returncode == 0, run.stderr[-3000:]
    local = json.loads(run.stdout)
    remote = httpx.post(gateway.url + "/v1/emotions", files={"image": ("a.png", two_face_png.read_bytes(), "image/png")}).json()
    assert local["image"] == remote["image"] and local["model"] == remote["model"]
    assert [f["box"] for f in local["faces"]] == [f["box"] for f in remote["faces"]]
    for mine, theirs in zip(local["faces"], remote["faces"]):
        assert mine["emotion"] == theirs["emotion"]
        assert mine["scores"] == pytest.approx(theirs["scores"], abs=1e-5)


def test_webcam_without_a_camera_says_so():
    run = emotion("webcam", "--camera", "9", "--url", "http://127.0.0.1:9")
    assert run.returncode == 2
    assert run.stderr.strip() == "emotion: no camera found at index 9 (is one connected and free?)"


def test_webcam_prints_one_tracked_result_per_frame(gateway, tmp_path):
    # No camera here: OpenCV reads a clip through the same capture API a camera uses.
    clip = write_mp4(jittered_clip(portrait(320, 240), 6), tmp_path / "camera.mp4")
    run = emotion("webcam", "--camera", str(clip), "--frames", "4", "--url", gateway.url)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2, 3]
    assert all(len(line["faces"]) == 1 and line["faces"][0]["track_id"] == 1 for line in lines)


def test_video_refuses_a_missing_input_and_an_unknown_output_type(tmp_path):
    run = emotion("video", str(tmp_path / "missing.mp4"), "--csv", str(tmp_path / "f.csv"), "--url", "http://127.0.0.1:9")
    assert run.returncode == 2 and "cannot open video" in run.stderr
    clip = write_mp4(jittered_clip(portrait(160, 120), 2), tmp_path / "c.mp4")
    run = emotion("video", str(clip), "--out", str(tmp_path / "out.gif"), "--url", "http://127.0.0.1:9")
    assert run.returncode == 2 and "unsupported output type" in run.stderr
