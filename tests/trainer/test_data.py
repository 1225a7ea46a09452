from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_contract.labels import EMOTIONS
from fer_trainer.data import DatasetError, load_split

from .conftest import PER_CLASS, use_cache_dir, write_csv


@pytest.mark.parametrize("split", ["train", "val"])
def test_folder_and_csv_loaders_give_identical_arrays(slice_dir, slice_csv, split):
    from_dir = load_split(slice_dir, split)
    from_csv = load_split(slice_csv, split)
    assert from_dir.images.shape == (PER_CLASS * len(EMOTIONS), 48, 48)
    assert from_dir.images.dtype == np.uint8
    np.testing.assert_array_equal(from_dir.images, from_csv.images)
    np.testing.assert_array_equal(from_dir.labels, from_csv.labels)
    assert sorted(set(from_dir.labels.tolist())) == list(range(len(EMOTIONS)))


def test_class_folders_match_case_insensitively(slice_dir, tmp_path):
    for name in ("Happy", "SAD"):
        (tmp_path / "train" / name).mkdir(parents=True)
        src = next((slice_dir / "train" / name.lower()).iterdir())
        (tmp_path / "train" / name / src.name).write_bytes(src.read_bytes())
    split = load_split(tmp_path, "train")
    assert sorted(split.labels.tolist()) == [EMOTIONS.index("happy"), EMOTIONS.index("sad")]


def test_colour_and_large_images_are_converted(slice_dir, tmp_path):
    face = cv2.imread(str(next((slice_dir / "val" / "happy").iterdir())), cv2.IMREAD_GRAYSCALE)
    big_colour = cv2.cvtColor(cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    (tmp_path / "val" / "happy").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "val" / "happy" / "big.png"), big_colour)
    split = load_split(tmp_path, "val")
    assert split.images.shape == (1, 48, 48)
    assert np.abs(split.images[0].astype(int) - face.astype(int)).mean() < 6


def test_second_load_reads_the_cache(slice_dir, tmp_path, monkeypatch):
    use_cache_dir(monkeypatch, tmp_path / "cache")
    first = load_split(slice_dir, "val")
    cached = list((tmp_path / "cache").glob("*.npz"))
    assert len(cached) == 1
    second = load_split(slice_dir, "val")
    np.testing.assert_array_equal(first.images, second.images)
    assert first.sources == second.sources


def test_unknown_class_folder_is_named(slice_dir, tmp_path):
    (tmp_path / "train" / "contempt").mkdir(parents=True)
    with pytest.raises(DatasetError, match="contempt"):
        load_split(tmp_path, "train")


def test_empty_split_is_an_error(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    with pytest.raises(DatasetError, match="empty split"):
        load_split(tmp_path, "train")


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "train" / "fear").mkdir(parents=True)
    (tmp_path / "train" / "fear" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match="broken.jpg"):
        load_split(tmp_path, "train")


@pytest.mark.parametrize("row, message", [
    (["3", "1 2 3", "Training"], "2304 pixel values"),
    (["nine", " ".join(["0"] * 2304), "Training"], "not an integer"),
    (["7", " ".join(["0"] * 2304), "Training"], "outside 0..6"),
    (["3", " ".join(["0"] * 2304), "Holdout"], "unknown Usage"),
    (["3"], "column"),
])
def test_malformed_csv_row_names_the_line(tmp_path, row, message):
    good = ["3", " ".join(["128"] * 2304), "Training"]
    path = write_csv(tmp_path / "fer2013.csv", [good, row])
    with pytest.raises(DatasetError, match=rf"fer2013.csv:3: .*{message}"):
        load_split(path, "train")


def test_csv_without_the_split_is_an_empty_split(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", [["3", " ".join(["128"] * 2304), "Training"]])
    with pytest.raises(DatasetError, match="empty split"):
        load_split(path, "test")


def test_missing_dataset(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_split(Path(tmp_path / "nowhere"), "train")
