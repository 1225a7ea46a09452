"""Knowledge distillation: a student learns the teacher's class probabilities as well as the labels.

The teacher (any exported version, ensemble included, or a .keras file) is run once over the
un-augmented training images, optionally with flip TTA, and its probabilities are cached in the
run folder. Each training target is then ``[teacher probabilities (7), one-hot label (7)]``, so
the tf.data pipeline, mixup and checkpoints stay as they are; the loss splits the two halves.
Augmented views keep the teacher's answer for the plain image: the same face, the same emotion.

Loss (Hinton et al., 2015): ``w * T^2 * CE(softmax(log p_teacher / T), softmax(z / T))
+ (1 - w) * CE(smoothed label, softmax(z))``; T^2 keeps the soft term's gradients on the scale
of the hard one whatever the temperature.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
import numpy as np
from keras import ops
from emotion_contract.labels import NUM_CLASSES

CACHE_FILE = "teacher-probs.npy"
_EPS = 1e-7


def teacher_probabilities(teacher: str, images: np.ndarray, tta: bool, cache_dir: Path | None) -> np.ndarray:
    """The teacher's probabilities [N, 7] for uint8 faces [N, 48, 48], computed once per run."""
    from .evaluate import load_predictor

    key = hashlib.sha256(images.tobytes()).hexdigest()[:16] + f":{Path(teacher).resolve()}:tta={tta}"
    cache = cache_dir / CACHE_FILE if cache_dir else None
    meta = cache.with_suffix(".json") if cache else None
    if cache and cache.is_file() and meta.is_file() and json.loads(meta.read_text()).get("key") == key:
        return np.load(cache)
    path = Path(teacher)
    if not path.exists():
        raise FileNotFoundError(f"no such teacher: {teacher}")
    predict = load_predictor(path)
    probs = predict(images)
    if tta:
        probs = (probs + predict(np.ascontiguousarray(images[:, :, ::-1]))) / 2.0
    probs = probs.astype(np.float32)
    if cache:
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.save(cache, probs)
        meta.write_text(json.dumps({"key": key, "teacher": str(teacher), "tta": tta}))
    return probs


def targets(teacher_probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[N, 14] training targets: the teacher's probabilities, then the one-hot label."""
    return np.concatenate([teacher_probs, np.eye(NUM_CLASSES, dtype=np.float32)[labels]], axis=1)


@keras.saving.register_keras_serializable(package="fer_trainer")
class DistillationLoss(keras.losses.Loss):
    def __init__(self, temperature: float = 2.0, weight: float = 0.7, label_smoothing: float = 0.1,
                 name: str = "distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature, self.weight, self.label_smoothing = temperature, weight, label_smoothing

    def call(self, y_true, y_pred):
        soft, hard = y_true[:, :NUM_CLASSES], y_true[:, NUM_CLASSES:]
        t = self.temperature
        soft_t = ops.softmax(ops.log(ops.maximum(soft, _EPS)) / t, axis=-1)
        soft_loss = -ops.sum(soft_t * ops.log_softmax(y_pred / t, axis=-1), axis=-1) * (t * t)
        hard = hard * (1.0 - self.label_smoothing) + self.label_smoothing / NUM_CLASSES
        hard_loss = -ops.sum(hard * ops.log_softmax(y_pred, axis=-1), axis=-1)
        return self.weight * soft_loss + (1.0 - self.weight) * hard_loss

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "weight": self.weight,
                "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="fer_trainer")
def label_accuracy(y_true, y_pred):
    """Top-1 accuracy against the label half of a distillation target (or a plain one-hot)."""
    hard = y_true[:, -NUM_CLASSES:]
    return ops.cast(ops.equal(ops.argmax(hard, axis=-1), ops.argmax(y_pred, axis=-1)), "float32")
