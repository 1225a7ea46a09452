"""Training throughput on this machine, for each setting that decides CPU speed.

    make bench-train            # or: python bench/train_speed.py --data DIR [--steps 30]

Prints images/s (and the implied seconds per 28,709-image epoch) for architecture, XLA on/off,
batch size and augmentation on/off. The trainer's speed settings (no XLA, batch 64) come from
this table: on the 2-core development machine XLA was 3.5x slower, batch 128 no faster. The
architecture rows set the epochs each one gets at equal wall-clock (README, model card).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer_trainer import architectures  # noqa: E402
from fer_trainer.data import load_split  # noqa: E402
from fer_trainer.pipeline import train_dataset  # noqa: E402
from fer_trainer.train import Recipe, compile_model  # noqa: E402

EPOCH_IMAGES = 28_709
CONFIGS = [  # (arch, jit_compile, batch_size, augment)
    ("vgg-lite", False, 64, 1.0),
    ("vgg-lite", True, 64, 1.0),
    ("vgg-lite", False, 128, 1.0),
    ("vgg-lite", False, 64, 0.0),
    ("seed-cnn", False, 64, 1.0),
    ("seed-deep-cnn", False, 64, 1.0),
    ("deep-cnn-context", False, 64, 1.0),
    ("resnet-se", False, 64, 1.0),
]


def measure(train, arch: str, jit: bool, batch: int, augment: float, steps: int) -> float:
    recipe = Recipe(arch=arch, jit_compile=jit, batch_size=batch, augment=augment)
    model = compile_model(architectures.build(arch), recipe, steps_per_epoch=steps)
    n = batch * (steps + 5)
    ds = train_dataset(train.images[:n], train.labels[:n], batch, recipe.seed, augment)
    model.fit(ds.take(5), epochs=1, verbose=0)  # tracing / compilation is not throughput
    start = time.perf_counter()
    model.fit(ds.skip(5).take(steps), epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--only", help="comma-separated architectures to measure")
    args = parser.parse_args()
    train = load_split(args.data, "train")
    only = set(args.only.split(",")) if args.only else None
    print(f"{'arch':<14} {'xla':<5} {'batch':>5} {'augment':>7} {'images/s':>9} {'s/epoch':>8}")
    for arch, jit, batch, augment in CONFIGS:
        if only and arch not in only:
            continue
        rate = measure(train, arch, jit, batch, augment, args.steps)
        print(f"{arch:<14} {str(jit):<5} {batch:>5} {augment:>7} {rate:>9.0f} {EPOCH_IMAGES / rate:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
