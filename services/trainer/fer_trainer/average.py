"""Weight averaging (SWA): one model whose weights are the mean of several checkpoints of a run.

Checkpoints from the flat end of a schedule sit around a wide minimum; their mean usually lies
nearer its centre and generalises better than any one of them, at the inference cost of one
model (an ensemble of the same checkpoints would cost N times as much per face, and the gateway
pays that on every request). Averaged BatchNorm statistics do not describe the averaged
weights' activations, so they are recomputed from the training images afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from . import architectures
from .train import save_atomically


def average_weights(arch: str, checkpoints: Sequence[Path]) -> keras.Model:
    """A model of `arch` holding the element-wise mean of the checkpoints' weights.

    Each checkpoint is a .keras model or a .weights.h5 file of the same architecture; loading
    matches layers by structure, so a checkpoint of another architecture fails loudly.
    """
    if not checkpoints:
        raise ValueError("no checkpoints to average")
    model = architectures.build(arch)
    total: list[np.ndarray] | None = None
    for path in checkpoints:
        model.load_weights(path)
        weights = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
        total = weights if total is None else [t + w for t, w in zip(total, weights)]
    model.set_weights([t / len(checkpoints) for t in total])
    return model


def recalibrate_batchnorm(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> None:
    """Sets every BatchNorm layer's moving statistics to their average over `images`.

    A momentum of k/(k+1) on the k-th batch makes the moving average an exact running mean of
    the per-batch statistics. Dropout is switched off meanwhile: it changes the variance of the
    activations that later BatchNorm layers would see, and serving runs without it.
    """
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
    saved = [layer.momentum for layer in norms], [layer.rate for layer in drops]
    try:
        for layer in drops:
            layer.rate = 0.0
        for k, start in enumerate(range(0, len(images), batch_size)):
            for layer in norms:
                layer.momentum = k / (k + 1)
            batch = images[start:start + batch_size, ..., None].astype(np.float32)
            model(batch, training=True)
    finally:
        for layer, momentum in zip(norms, saved[0]):
            layer.momentum = momentum
        for layer, rate in zip(drops, saved[1]):
            layer.rate = rate


def average_to_file(arch: str, checkpoints: Sequence[Path], train_images: np.ndarray, out: Path) -> keras.Model:
    model = average_weights(arch, checkpoints)
    recalibrate_batchnorm(model, train_images)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(model, out)
    return model
