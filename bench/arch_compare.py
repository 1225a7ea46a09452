"""Architectures compared at one equal, small training budget: val accuracy after the same recipe.

    make bench-arch             # or: python bench/arch_compare.py --data DIR [--images 8000 --epochs 4]

Every registered architecture is trained with the trainer's default recipe (same seed, same
augmentation, cosine schedule over the budget) on the same random subset of `train`, then scored
on the whole of `val`. This is a small-budget proxy for the comparison the trainer's default was
chosen by: on the 2-core development machine a full-budget run of all four takes most of a day.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from fer_trainer import architectures  # noqa: E402
from fer_trainer.data import load_split  # noqa: E402
from fer_trainer.train import Recipe, fit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--images", type=int, default=8000, help="training images per run (random subset)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--only", help="comma-separated architectures")
    args = parser.parse_args()
    train, val = load_split(args.data, "train"), load_split(args.data, "val")
    rng = np.random.default_rng(0)
    subset = train.take(np.sort(rng.choice(len(train), min(args.images, len(train)), replace=False)))
    names = args.only.split(",") if args.only else [architectures.DEFAULT_ARCH, *sorted(
        n for n in architectures.ARCHITECTURES if n != architectures.DEFAULT_ARCH)]
    print(f"{len(subset)} train images, {args.epochs} epochs, val {len(val)} images", flush=True)
    print(f"{'arch':<14} {'params':>9} {'val acc':>8} {'best val':>9} {'s/epoch':>8}", flush=True)
    for name in names:
        recipe = Recipe(arch=name, epochs=args.epochs, warmup_epochs=1, patience=args.epochs)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            model = fit(subset, val, Path(tmp) / "run", recipe)
            seconds = (time.perf_counter() - started) / args.epochs
            with open(Path(tmp) / "run" / "history.csv") as handle:
                scores = [float(row["val_accuracy"]) for row in csv.DictReader(handle)]
        last, best = scores[-1], max(scores)
        print(f"{name:<14} {model.count_params():>9,} {last:>8.3f} {best:>9.3f} {seconds:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
