"""Fits a model with checkpoints that survive interruption: `--resume` continues a stopped run.

The run folder holds everything a resumed run needs: `last.keras` (model *and* optimizer state,
so the learning-rate schedule continues where it stopped) with `last.json` (epochs done),
`best.keras` (best on val), `history.csv` and `run.json` (the recipe, wall time and throughput).
keras.callbacks.BackupAndRestore is not used: it saves weights only, and a resumed run then
restarts its schedule from the warm-up.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
from emotion_contract.labels import NUM_CLASSES

from . import architectures
from .data import Split
from .pipeline import eval_dataset, train_dataset


@dataclass
class Recipe:
    arch: str = architectures.DEFAULT_ARCH
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    schedule: str = "cosine"  # or "plateau"
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    class_weight: str = "none"  # "none", "balanced" or "sqrt"
    augment: float = 1.0
    # Mixup's Beta(alpha, alpha); 0 = off.
    mixup: float = 0.0
    patience: int = 12
    seed: int = 1337
    # XLA measured 3.5x slower than the plain graph on a 2-core CPU (bench/train_speed.py).
    jit_compile: bool = False
    # Warm start: a .keras model of the same architecture whose weights start this run, so a
    # finished run can get a fresh schedule (fine-tuning) without losing what it learnt.
    init_from: str = ""
    # Keep each epoch's weights as epoch-NNN.weights.h5, the input of `fer_trainer average`.
    keep_epochs: bool = False
    # Camera degradations (camera.py: downscale, blur, JPEG, gamma, occlusion); 0 = off.
    camera: float = 0.0
    # Distillation (distill.py): a version folder or .keras file whose probabilities the student
    # learns, with flip TTA or not, at this temperature and weight of the soft term.
    teacher: str = ""
    teacher_tta: bool = True
    temperature: float = 2.0
    distill_weight: float = 0.7


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    weights = len(labels) / (NUM_CLASSES * np.maximum(counts, 1))
    if mode == "sqrt":
        weights = np.sqrt(weights)
    elif mode != "balanced":
        raise ValueError(f"unknown class_weight mode {mode!r}")
    return {i: float(w) for i, w in enumerate(weights)}


def _learning_rate(recipe: Recipe, steps_per_epoch: int):
    if recipe.schedule == "plateau":
        return recipe.learning_rate
    if recipe.schedule != "cosine":
        raise ValueError(f"unknown schedule {recipe.schedule!r}")
    warmup = recipe.warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=recipe.learning_rate / 10,
        decay_steps=max(recipe.epochs * steps_per_epoch - warmup, 1),
        warmup_target=recipe.learning_rate,
        warmup_steps=warmup,
    )


def build_model(recipe: Recipe, steps_per_epoch: int) -> keras.Model:
    """A compiled model of the recipe's architecture, seeded, or warm-started from `init_from`."""
    keras.utils.set_random_seed(recipe.seed)
    model = architectures.build(recipe.arch)
    if recipe.init_from:
        # load_weights matches layers by structure, so a different architecture fails loudly here.
        model.load_weights(recipe.init_from)
    return compile_model(model, recipe, steps_per_epoch)


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int) -> keras.Model:
    if recipe.teacher:
        from .distill import DistillationLoss, label_accuracy
        loss = DistillationLoss(recipe.temperature, recipe.distill_weight, recipe.label_smoothing)
        metrics = [keras.metrics.MeanMetricWrapper(label_accuracy, name="accuracy")]
    else:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing)
        metrics = ["accuracy"]
    model.compile(
        optimizer=keras.optimizers.AdamW(_learning_rate(recipe, steps_per_epoch), weight_decay=recipe.weight_decay),
        loss=loss,
        metrics=metrics,
        jit_compile=recipe.jit_compile,
    )
    return model


class Throughput(keras.callbacks.Callback):
    """Logs images/s per epoch and keeps the run's total wall time across resumes in run.json."""

    def __init__(self, run_file: Path, images_per_epoch: int):
        super().__init__()
        self.run_file, self.images_per_epoch = run_file, images_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        rate = self.images_per_epoch / seconds
        if logs is not None:
            logs["images_per_s"] = rate
        state = json.loads(self.run_file.read_text())
        state["train_seconds"] = state.get("train_seconds", 0.0) + seconds
        state["epochs_done"] = epoch + 1
        state.setdefault("images_per_s", []).append(round(rate, 1))
        self.run_file.write_text(json.dumps(state, indent=2))
        print(f"epoch {epoch + 1}: {seconds:.0f}s, {rate:.0f} images/s", flush=True)


def save_atomically(model: keras.Model, path: Path) -> None:
    """Writes a .keras model under a temporary name, then renames it: never half a file at `path`."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


class ResumeCheckpoint(keras.callbacks.Callback):
    """Saves the whole model with its optimizer after every epoch, atomically."""

    def __init__(self, run_dir: Path, keep_epochs: bool = False):
        super().__init__()
        self.run_dir, self.keep_epochs = run_dir, keep_epochs

    def on_epoch_end(self, epoch, logs=None):
        save_atomically(self.model, self.run_dir / "last.keras")
        if self.keep_epochs:
            # Keras only writes weight files whose name ends in .weights.h5, so the temporary
            # name keeps that ending; the rename still makes each snapshot appear whole or not at all.
            tmp = self.run_dir / f"epoch-{epoch + 1:03d}.tmp.weights.h5"
            self.model.save_weights(tmp)
            os.replace(tmp, self.run_dir / f"epoch-{epoch + 1:03d}.weights.h5")
        (self.run_dir / "last.json").write_text(json.dumps({"epochs_done": epoch + 1}))

    def on_train_end(self, logs=None):
        state = json.loads((self.run_dir / "run.json").read_text())
        state["finished"] = True
        (self.run_dir / "run.json").write_text(json.dumps(state, indent=2))


def _best_so_far(history_csv: Path) -> float | None:
    if not history_csv.exists():
        return None
    with open(history_csv) as handle:
        scores = [float(row["val_accuracy"]) for row in csv.DictReader(handle) if row.get("val_accuracy")]
    return max(scores) if scores else None


def fit(train: Split, val: Split, run_dir: Path, recipe: Recipe, resume: bool = False,
        extra_callbacks: list[keras.callbacks.Callback] = ()) -> keras.Model:
    run_dir.mkdir(parents=True, exist_ok=True)
    run_file, history_csv, last = run_dir / "run.json", run_dir / "history.csv", run_dir / "last.keras"
    initial_epoch = 0
    if resume and run_file.exists():
        state = json.loads(run_file.read_text())
        if state.get("finished"):
            raise FileExistsError(f"{run_dir} holds a finished run; choose another --run-dir")
        if state["recipe"] != asdict(recipe):
            print(f"resuming with the recipe saved in {run_file}, not the one given", flush=True)
        recipe = Recipe(**state["recipe"])
    elif run_file.exists():
        raise FileExistsError(f"{run_dir} holds an earlier run: pass --resume, or choose another --run-dir")
    else:
        run_file.write_text(json.dumps({"recipe": asdict(recipe), "train_images": len(train),
                                        "val_images": len(val)}, indent=2))

    steps = len(train) // recipe.batch_size
    if resume and last.exists():
        initial_epoch = json.loads((run_dir / "last.json").read_text())["epochs_done"]
        if recipe.teacher:
            from . import distill  # noqa: F401  registers DistillationLoss, which the compiled checkpoint names
        model = keras.models.load_model(last)  # compiled, with optimizer state and schedule position
        print(f"resuming after epoch {initial_epoch}", flush=True)
    else:
        model = build_model(recipe, steps)
    # A resumed run must not replay the shuffles and augmentations of the epochs it already did.
    keras.utils.set_random_seed(recipe.seed + initial_epoch)
    callbacks = [
        ResumeCheckpoint(run_dir, recipe.keep_epochs),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor="val_accuracy", mode="max", save_best_only=True,
            initial_value_threshold=_best_so_far(history_csv) if resume else None,
        ),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=recipe.patience),
        Throughput(run_file, steps * recipe.batch_size),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        *extra_callbacks,
    ]
    if recipe.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-6))
    train_targets, val_targets = train.labels, val.labels
    if recipe.teacher:
        from .distill import targets, teacher_probabilities
        if recipe.class_weight != "none":
            raise ValueError("class weights apply to labels, not to a teacher's probabilities: use one or the other")
        train_targets = targets(teacher_probabilities(recipe.teacher, train.images, recipe.teacher_tta, run_dir),
                                train.labels)
        # Val is scored against its labels only; its "teacher" half is the label too.
        val_targets = targets(np.eye(NUM_CLASSES, dtype=np.float32)[val.labels], val.labels)
    model.fit(
        train_dataset(train.images, train_targets, recipe.batch_size, recipe.seed + initial_epoch, recipe.augment,
                      recipe.mixup, recipe.camera),
        validation_data=eval_dataset(val.images, val_targets, 256),
        epochs=recipe.epochs,
        initial_epoch=initial_epoch,
        class_weight=class_weights(train.labels, recipe.class_weight),
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,  # a bar in a terminal, a line per epoch in logs
    )
    best = run_dir / "best.keras"
    return keras.models.load_model(best) if best.exists() else model
