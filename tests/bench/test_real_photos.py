"""The real-photo benchmark's figures agree with the faces the gateway found (real model, a few photos)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score

from bench.real_photos import DATA, NO_FACE, SERVED, gateway_faces, load_photos, record, score, version_folder

# labels.json is grouped by emotion, so every 20th photo spans the classes.
PHOTOS = load_photos(DATA)[::20]


def test_figures_are_those_of_the_largest_face_per_photo(tmp_path):
    faces = asyncio.run(gateway_faces(PHOTOS, version_folder(SERVED), {}))
    truth = [p.emotion for p in PHOTOS]
    largest = [sorted(f, key=lambda face: -face["width"] * face["height"])[0]["emotion"] if f else "none"
               for f in faces]
    result = record("served", version_folder(SERVED), PHOTOS, truth, faces, tmp_path)

    assert result["photos"] == len(PHOTOS) and np.sum(result["confusion"]) == len(PHOTOS)
    assert result["faces_found"] == pytest.approx(np.mean([len(f) > 0 for f in faces]))
    assert result["accuracy"] == pytest.approx(accuracy_score(truth, largest))
    present = sorted(set(truth) | set(largest) - {"none"})
    macro_f1 = f1_score(truth, largest, labels=present, average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(macro_f1)
    for emotion in set(truth):
        recall = recall_score(truth, largest, labels=[emotion], average="macro")
        assert result["recall"][emotion] == pytest.approx(recall)
    assert [p["answer"] for p in result["per_photo"]] == [NO_FACE if a == "none" else a for a in largest]
    assert (tmp_path / "served.confusion.png").stat().st_size > 10_000


def test_a_photo_without_a_face_is_wrong_but_no_false_positive():
    figures = score(["happy", "sad", "sad"], ["happy", NO_FACE, "happy"])
    assert figures["faces_found"] == pytest.approx(2 / 3)
    assert figures["accuracy"] == pytest.approx(1 / 3)
    assert figures["recall"]["happy"] == 1 and figures["recall"]["sad"] == 0
    # happy: TP 1, FP 1 -> F1 2/3; sad: TP 0 -> 0; the five absent emotions do not count.
    assert figures["macro_f1"] == pytest.approx(1 / 3)
    assert figures["confusion"][4][-1] == 1  # the missed sad photo sits in the "no face" column
