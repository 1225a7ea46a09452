"""Small slices of the real FER-2013 images, laid out as each loader expects."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from emotion_contract.labels import EMOTIONS
from fer_trainer import architectures
from fer_trainer.data import load_split
from fer_trainer.settings import get_settings
from fer_trainer.train import Recipe, compile_model

REPO = Path(__file__).resolve().parents[2]
FER_DIR = Path(os.environ.get("FER2013_DIR", REPO.parent / "shared" / "datasets" / "fer2013"))
PER_CLASS = 6


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    use_cache_dir(monkeypatch, tmp_path / "cache")
    yield
    get_settings.cache_clear()


def use_cache_dir(monkeypatch, folder: Path) -> None:
    """FER_CACHE_DIR for this test, in this process (settings are read once) and its children."""
    monkeypatch.setenv("FER_CACHE_DIR", str(folder))
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def fer_dir() -> Path:
    if not (FER_DIR / "train").is_dir():
        pytest.fail(f"FER-2013 not found at {FER_DIR} (set FER2013_DIR)")
    return FER_DIR


@pytest.fixture(scope="session")
def slice_dir(fer_dir, tmp_path_factory) -> Path:
    """train/ and val/ with the first PER_CLASS real images of every class."""
    root = tmp_path_factory.mktemp("fer-slice")
    for split in ("train", "val"):
        for name in EMOTIONS:
            target = root / split / name
            target.mkdir(parents=True)
            for path in sorted((fer_dir / split / name).glob("*.jpg"))[:PER_CLASS]:
                shutil.copy(path, target / path.name)
    return root


class StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # as if the process were stopped mid-run


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def slice_csv(slice_dir, tmp_path_factory) -> Path:
    """The same images as slice_dir, in fer2013.csv form and in the folder loader's order."""
    rows = []
    for split, usage in (("train", "Training"), ("val", "PublicTest")):
        for class_dir in sorted((slice_dir / split).iterdir()):
            for path in sorted(class_dir.iterdir()):
                pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
                rows.append([EMOTIONS.index(class_dir.name), " ".join(map(str, pixels.ravel())), usage])
    return write_csv(tmp_path_factory.mktemp("fer-csv") / "fer2013.csv", rows)


@pytest.fixture(scope="session")
def real_faces(fer_dir) -> np.ndarray:
    paths = [sorted((fer_dir / "val" / name).glob("*.jpg"))[0] for name in EMOTIONS]
    return np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths])


@pytest.fixture(scope="session")
def trained_model(slice_dir):
    """A real architecture after a few real steps, so the weights are not at initialisation.
    Shared by every trainer test module: tests save or copy it, none changes it."""
    import tensorflow as tf

    train = load_split(slice_dir, "train")
    model = compile_model(architectures.build(architectures.DEFAULT_ARCH), Recipe(), steps_per_epoch=4)
    model.fit(train.images[..., None].astype("float32"),
              tf.one_hot(train.labels, len(EMOTIONS)), batch_size=16, epochs=2, verbose=0)
    return model


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m fer_trainer ARGS` in a child process."""
    # The child does not inherit pytest.ini's pythonpath; it is found the way `make` finds it.
    own = [str(REPO / "services" / name) for name in ("contract", "trainer")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [*own, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "fer_trainer", *args], capture_output=True, text=True, env=env)
