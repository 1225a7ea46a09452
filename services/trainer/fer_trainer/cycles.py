"""The default recipe: warm-restart cycles, each a fresh cosine schedule started from the last one's result.

Each cycle restarts at a lower learning rate from the previous cycle's (averaged, recalibrated)
weights, with milder augmentation once the model underfits less; why restarts rather than one
long schedule is recorded in docs/model-history.md (Model card, Recipe). Each cycle is an
ordinary `fit` run in its own folder, so a stopped recipe resumes inside the cycle it was in, and
a finished cycle is never trained twice.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from .average import average_to_file
from .data import Split
from .train import Recipe, fit


@dataclass(frozen=True)
class Cycle:
    epochs: int
    learning_rate: float
    warmup_epochs: int
    augment: float
    seed: int
    # What the cycle hands on: the mean of its last N epochs' weights, or (0) its best epoch;
    # either with BatchNorm statistics recomputed on the plain training images.
    average_last: int = 0


# The first cycle hands on the mean of its last epochs, the second its best epoch: whichever
# scored higher on val for that cycle (docs/model-history/v6/ensemble.md).
DEFAULT_CYCLES: tuple[Cycle, ...] = (
    Cycle(epochs=26, learning_rate=2e-3, warmup_epochs=2, augment=1.0, seed=1337, average_last=3),
    Cycle(epochs=24, learning_rate=7e-4, warmup_epochs=1, augment=0.7, seed=7),
)


def cycle_dir(run_dir: Path, index: int) -> Path:
    return run_dir / f"cycle-{index + 1}"


def _finished(folder: Path) -> bool:
    run_file = folder / "run.json"
    return run_file.exists() and bool(json.loads(run_file.read_text()).get("finished"))


def fit_cycles(train: Split, val: Split, run_dir: Path, base: Recipe, cycles: Sequence[Cycle] = DEFAULT_CYCLES,
               resume: bool = False, seed: int | None = None) -> Path:
    """Runs the cycles in run_dir/cycle-K and returns the last one's `final.keras`.

    `base` gives everything a cycle does not set (architecture, batch size, regularisation);
    its `init_from`, if any, starts the first cycle. `seed`, when given, seeds cycle K with
    seed + K - 1 instead of the recipe's seeds: the same recipe, another ensemble member.
    """
    if cycle_dir(run_dir, 0).exists() and not resume:
        raise FileExistsError(f"{run_dir} holds an earlier run: pass --resume, or choose another --run-dir")
    start = base.init_from
    for index, cycle in enumerate(cycles):
        folder = cycle_dir(run_dir, index)
        final = folder / "final.keras"
        recipe = replace(base, epochs=cycle.epochs, learning_rate=cycle.learning_rate,
                         warmup_epochs=cycle.warmup_epochs, augment=cycle.augment,
                         seed=cycle.seed if seed is None else seed + index,
                         init_from=start, keep_epochs=True,
                         # No early stopping: a cycle's gains come in its low-rate tail, and
                         # stopping early hands on a mid-rate model (docs/model-history.md).
                         patience=cycle.epochs)
        if not final.exists():
            if not _finished(folder):
                print(f"cycle {index + 1} of {len(cycles)}: {recipe}", flush=True)
                fit(train, val, folder, recipe, resume=(folder / "run.json").exists())
            if cycle.average_last:
                checkpoints = sorted(folder.glob("epoch-*.weights.h5"))[-cycle.average_last:]
            else:
                checkpoints = [folder / "best.keras"]
            average_to_file(recipe.arch, checkpoints, train.images, final)
        start = str(final)
    merge_histories(run_dir, len(cycles))
    return final


def merge_histories(run_dir: Path, count: int) -> None:
    """Writes run_dir/history.csv and run.json spanning all cycles, so a report's learning curves
    and wall time describe the whole recipe rather than its last cycle."""
    rows, fields, seconds, rates, recipes = [], None, 0.0, [], []
    for index in range(count):
        folder = cycle_dir(run_dir, index)
        with open(folder / "history.csv") as handle:
            reader = csv.DictReader(handle)
            fields = fields or reader.fieldnames
            for row in reader:
                rows.append({**row, "epoch": str(len(rows))})
        state = json.loads((folder / "run.json").read_text())
        seconds += state.get("train_seconds", 0.0)
        rates += state.get("images_per_s", [])
        recipes.append(state["recipe"])
    with open(run_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (run_dir / "run.json").write_text(json.dumps(
        {"recipe": recipes, "train_seconds": seconds, "epochs_done": len(rows), "images_per_s": rates,
         "finished": True}, indent=2))
