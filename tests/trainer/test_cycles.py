import csv
import json

import keras
import numpy as np
import pytest

from fer_trainer.average import average_to_file
from fer_trainer.cycles import DEFAULT_CYCLES, Cycle, fit_cycles
from fer_trainer.data import load_split
from fer_trainer.train import Recipe

# Two short cycles on the real slice: the first hands on the mean of its last two epochs, the
# second its best epoch, as the default recipe does at 26 + 24 epochs.
FIRST = Cycle(epochs=2, learning_rate=2e-3, warmup_epochs=0, augment=1.0, seed=1, average_last=2)
SECOND = Cycle(epochs=1, learning_rate=7e-4, warmup_epochs=0, augment=0.7, seed=2)
BASE = Recipe(batch_size=16)


def _history_epochs(path):
    with open(path) as handle:
        return [row["epoch"] for row in csv.DictReader(handle)]


def test_default_recipe_is_the_measured_two_cycles():
    assert [c.epochs for c in DEFAULT_CYCLES] == [26, 24]
    assert DEFAULT_CYCLES[0].average_last == 3 and DEFAULT_CYCLES[1].learning_rate < DEFAULT_CYCLES[0].learning_rate


def test_cycles_chain_and_a_stopped_recipe_resumes_after_the_finished_cycle(slice_dir, real_faces, tmp_path):
    train, val = load_split(slice_dir, "train"), load_split(slice_dir, "val")
    run = tmp_path / "run"
    fit_cycles(train, val, run, BASE, [FIRST])  # as if stopped once the first cycle was done
    first_final = run / "cycle-1" / "final.keras"
    stamp = first_final.stat().st_mtime_ns

    # The hand-over is the mean of the last two epochs with recalibrated BatchNorm, nothing else.
    expected = average_to_file(BASE.arch, sorted((run / "cycle-1").glob("epoch-*.weights.h5")),
                               train.images, tmp_path / "expected.keras")
    x = real_faces[..., None].astype("float32")
    np.testing.assert_allclose(keras.models.load_model(first_final)(x, training=False),
                               expected(x, training=False), atol=1e-5)

    with pytest.raises(FileExistsError, match="--resume"):
        fit_cycles(train, val, run, BASE, [FIRST, SECOND])
    final = fit_cycles(train, val, run, BASE, [FIRST, SECOND], resume=True)

    assert final == run / "cycle-2" / "final.keras" and final.exists()
    assert first_final.stat().st_mtime_ns == stamp  # the finished cycle was not trained again
    assert _history_epochs(run / "cycle-1" / "history.csv") == ["0", "1"]
    second = json.loads((run / "cycle-2" / "run.json").read_text())["recipe"]
    assert second["init_from"] == str(first_final)
    assert (second["learning_rate"], second["augment"], second["seed"]) == (7e-4, 0.7, 2)

    # The run folder describes the whole recipe for the export's report.
    assert _history_epochs(run / "history.csv") == ["0", "1", "2"]
    merged = json.loads((run / "run.json").read_text())
    parts = [json.loads((run / f"cycle-{k}" / "run.json").read_text()) for k in (1, 2)]
    assert merged["finished"] and merged["epochs_done"] == 3 and len(merged["recipe"]) == 2
    assert merged["train_seconds"] == pytest.approx(sum(p["train_seconds"] for p in parts))


def test_a_cycle_seed_reseeds_every_cycle_and_early_stopping_never_cuts_one(slice_dir, tmp_path):
    train, val = load_split(slice_dir, "train"), load_split(slice_dir, "val")
    run = tmp_path / "run"
    short = Cycle(epochs=1, learning_rate=2e-3, warmup_epochs=0, augment=1.0, seed=1, average_last=1)
    fit_cycles(train, val, run, BASE, [short, SECOND], seed=50)
    recipes = json.loads((run / "run.json").read_text())["recipe"]
    assert [r["seed"] for r in recipes] == [50, 51]
    assert [(r["learning_rate"], r["augment"]) for r in recipes] == [(2e-3, 1.0), (7e-4, 0.7)]
    # Early stopping never ends a cycle before the low-rate tail of its schedule.
    assert [r["patience"] for r in recipes] == [1, 1]
