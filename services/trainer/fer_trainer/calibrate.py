"""Calibrated confidence: temperature scaling fitted on val and folded into the exported model.

A model trained with label smoothing, and an ensemble's averaged probabilities, are not
calibrated: nothing makes a confidence of 0.9 right nine times in ten. Temperature scaling
(Guo et al., 2017) divides the logits by one scalar T fitted to minimise the negative
log-likelihood on held-out labelled faces; it never changes the top-1 answer. The exported
SavedModel applies it inside `serving_default`, so Serving, the embedded backend and TFLite all
return calibrated probabilities with nothing new on their side.

Top-label scaling recalibrates only what ECE and the `uncertain` flag read, the top probability:
its log-odds get a scale and a bias per predicted class (Platt scaling per class, the "top-label
calibration" of Gupta & Ramdas, 2022), the other classes share the rest in their own proportions,
and the top class is kept on top, so the answer never changes. On version 9 and on the equalized
student it lowered the held-out ECE (mean of 50 paired splits) by 0.002 and 0.006 below vector
scaling (docs/model-history.md).

Because the same val images fit T and measure it, the report also gives a 2-fold figure: T
fitted on one half of val and measured on the other, both ways, averaged; and, because one split
of a few thousand faces is noisy, its mean and spread over 25 random splits.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from scipy.optimize import minimize, minimize_scalar

ECE_BINS = 15
UNCERTAIN_TARGET_ACCURACY = 0.80  # accuracy required of the faces *not* flagged uncertain
SPLIT_SEED = 2020
# One 2-fold split's held-out ECE moves by about 0.004 with the split (version 9: 0.026-0.039):
# the report also gives the mean and spread over this many splits.
REPEATED_SPLITS = 25
# Vector scaling must lower held-out NLL by this much, and cost at most this much accuracy,
# to be preferred over the one-parameter method.
VECTOR_MIN_NLL_GAIN = 0.01
VECTOR_MAX_ACCURACY_LOSS = 0.002
# Top-label scaling's per-class parameters are pulled towards (1, 0) by this L2 weight: a class
# the model seldom predicts (disgust) has too few faces on half of val to fit two numbers alone.
TOP_LABEL_L2 = 1e-3
# Calibrated log-odds of the top class stay at least this far above the runner-up's share, so the
# top class stays on top after rounding too.
TOP_LABEL_MARGIN = 1e-4
METHODS = ("temperature", "vector", "top-label")
_EPS = 1e-7


def _log(probs: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probs, _EPS))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the same as dividing the logits by T, for any model's probabilities."""
    return _softmax(_log(probs) / temperature)


def apply(probs: np.ndarray, params: dict) -> np.ndarray:
    """Probabilities after a fitted calibration: `class_scale`, `class_bias` per class, or
    `top_scale`, `top_bias` per predicted class for top-label scaling."""
    if params.get("method") == "top-label":
        return np.exp(top_label_log_probs(_log(probs), np.asarray(params["top_scale"]), np.asarray(params["top_bias"])))
    return _softmax(_log(probs) * np.asarray(params["class_scale"]) + np.asarray(params["class_bias"]))


def _top_parts(log_p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the normalised log-probabilities, the top class, its log-odds against the rest,
    log of the rest's total, and the runner-up's log-share of the rest. Sums of the other classes,
    not 1 - top: a softmax that rounds its top to 1.0 still has a rest."""
    log_p = log_p - np.logaddexp.reduce(log_p, axis=1, keepdims=True)
    rows = np.arange(len(log_p))
    top = log_p.argmax(1)
    others = log_p.copy()
    others[rows, top] = -np.inf
    log_rest = np.logaddexp.reduce(others, axis=1)
    return log_p, top, log_p[rows, top] - log_rest, log_rest, others.max(1) - log_rest


def top_label_log_probs(log_p: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Top-label scaling in log space (the same steps as `TopLabelCalibration`)."""
    log_p, top, odds, log_rest, runner_up = _top_parts(log_p)
    u = np.maximum(scale[top] * odds + bias[top], runner_up + TOP_LABEL_MARGIN)
    out = log_p - (log_rest + np.logaddexp(0, u))[:, None]
    out[np.arange(len(log_p)), top] = -np.logaddexp(0, -u)
    return out


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-_log(probs[np.arange(len(labels)), labels]).mean())


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the gap between confidence and accuracy, bin-weighted."""
    conf, correct = probs.max(1), probs.argmax(1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - correct[inside].mean())
    return float(total)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    result = minimize_scalar(lambda log_t: nll(scale(probs, float(np.exp(log_t))), labels),
                             bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


def fit_vector(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    log_p, k = _log(probs), probs.shape[1]
    rows = np.arange(len(labels))

    def loss(theta):
        z = log_p * theta[:k] + theta[k:]
        z = z - z.max(1, keepdims=True)
        return float((np.log(np.exp(z).sum(1)) - z[rows, labels]).mean())

    theta = minimize(loss, np.r_[np.ones(k), np.zeros(k)], method="L-BFGS-B").x
    return theta[:k], theta[k:]


def fit_top_label(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per predicted class k, the scale and bias of the top probability's log-odds that minimise
    the log-loss of "the top answer is right" (regularised towards no change)."""
    k = probs.shape[1]
    _, top, odds, _, _ = _top_parts(_log(probs))
    right = (top == labels).astype(np.float64)

    def loss(theta):
        u = theta[:k][top] * odds + theta[k:][top]
        return float(np.mean(np.logaddexp(0, u) - right * u)
                     + TOP_LABEL_L2 * (((theta[:k] - 1) ** 2).sum() + (theta[k:] ** 2).sum()))

    theta = minimize(loss, np.r_[np.ones(k), np.zeros(k)], method="L-BFGS-B").x
    return theta[:k], theta[k:]


def fit(probs: np.ndarray, labels: np.ndarray, method: str) -> dict:
    k = probs.shape[1]
    if method == "temperature":
        t = fit_temperature(probs, labels)
        return {"method": method, "temperature": t, "class_scale": [1.0 / t] * k, "class_bias": [0.0] * k}
    if method == "vector":
        w, b = fit_vector(probs, labels)
        return {"method": method, "class_scale": w.tolist(), "class_bias": b.tolist()}
    if method == "top-label":
        w, b = fit_top_label(probs, labels)
        return {"method": method, "top_scale": w.tolist(), "top_bias": b.tolist()}
    raise ValueError(f"unknown calibration method {method!r}")


PARAMETER_KEYS = ("method", "temperature", "class_scale", "class_bias", "top_scale", "top_bias")


def parameters(fitted: dict) -> dict:
    """The fitted method and its parameters (what the model card records and
    `with_calibration` folds in), without the report's figures."""
    return {k: fitted[k] for k in PARAMETER_KEYS if k in fitted}


def uncertain_threshold(probs: np.ndarray, labels: np.ndarray,
                        target: float = UNCERTAIN_TARGET_ACCURACY) -> dict:
    """The lowest top probability above which accuracy is still at least `target`.

    Faces below it are answered but flagged uncertain. Rounded up to two decimals, because it
    becomes a setting a person reads.
    """
    conf, correct = probs.max(1), probs.argmax(1) == labels
    # Searched on the two-decimal grid itself: rounding a cut found between faces up to the grid
    # keeps fewer, more confident faces whose accuracy can still fall under the target, because
    # accuracy is not monotonic in confidence.
    threshold = 1.0
    for step in range(101):
        candidate = round(step / 100, 2)
        above = conf >= candidate
        if above.any() and correct[above].mean() >= target:
            threshold = candidate
            break
    kept = conf >= threshold
    return {"threshold": threshold, "target_accuracy": target,
            "flagged_share": float(1.0 - kept.mean()),
            "accuracy_not_flagged": float(correct[kept].mean()) if kept.any() else None,
            "accuracy_flagged": float(correct[~kept].mean()) if (~kept).any() else None}


def _figures(probs, labels) -> dict:
    return {"ece": ece(probs, labels), "nll": nll(probs, labels),
            "accuracy": float((probs.argmax(1) == labels).mean())}


def two_fold(probs: np.ndarray, labels: np.ndarray, method: str, seed: int = SPLIT_SEED) -> dict:
    """Fitted on one half of the images and measured on the other, both ways; figures averaged."""
    order = np.random.default_rng(seed).permutation(len(labels))
    halves = order[: len(order) // 2], order[len(order) // 2:]
    folds = []
    for fit_on, measure_on in (halves, halves[::-1]):
        params = fit(probs[fit_on], labels[fit_on], method)
        folds.append({"before": _figures(probs[measure_on], labels[measure_on]),
                      "after": _figures(apply(probs[measure_on], params), labels[measure_on])})
    return {when: {k: float(np.mean([f[when][k] for f in folds])) for k in ("ece", "nll", "accuracy")}
            for when in ("before", "after")}


def _summary(runs: list[dict]) -> dict:
    """Mean and standard deviation of `two_fold` results' held-out figures after calibration."""
    after = [r["after"] for r in runs]
    return {"splits": len(runs), **{f"{k}_{stat}": float(fn([a[k] for a in after]))
                                    for k in ("ece", "nll", "accuracy") for stat, fn in (("mean", np.mean), ("std", np.std))}}


def repeated_two_fold(probs: np.ndarray, labels: np.ndarray, method: str,
                      splits: int = REPEATED_SPLITS) -> dict:
    """`two_fold` over `splits` random splits (seeds SPLIT_SEED, SPLIT_SEED + 1, ...): the held-out
    figures' mean and standard deviation, since on a few thousand faces one split is noisy."""
    return _summary([two_fold(probs, labels, method, SPLIT_SEED + i) for i in range(splits)])


def ece_noise_floor(probs: np.ndarray, n: int, draws: int = 20, seed: int = SPLIT_SEED) -> float:
    """The ECE a perfectly calibrated model would still show on `n` faces: labels drawn from the
    calibrated probabilities themselves, measured like the real ones. A held-out ECE near this is
    as good as `n` faces can tell."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        pick = rng.choice(len(probs), n, replace=False)
        sample = probs[pick]
        cumulative = sample.cumsum(1)
        labels = (rng.random((n, 1)) > cumulative).sum(1).clip(max=probs.shape[1] - 1)
        values.append(ece(sample, labels))
    return float(np.mean(values))


def choose(heldout: dict, repeated: dict) -> str:
    """Temperature unless vector scaling lowers held-out NLL clearly at (almost) no accuracy cost;
    then top-label scaling instead if its held-out ECE, averaged over the repeated splits, is lower
    still (it keeps every answer, and recalibrates only the top probability, which ECE reads)."""
    t, v = heldout["temperature"]["after"], heldout["vector"]["after"]
    best = "temperature"
    if t["nll"] - v["nll"] >= VECTOR_MIN_NLL_GAIN and t["accuracy"] - v["accuracy"] <= VECTOR_MAX_ACCURACY_LOSS:
        best = "vector"
    if repeated["top-label"]["ece_mean"] < repeated[best]["ece_mean"]:
        best = "top-label"
    return best


def calibrate(probs: np.ndarray, labels: np.ndarray, method: str = "auto") -> dict:
    """Everything the report needs: the method and its parameters fitted on all of val,
    before/after figures, the 2-fold held-out figures of every method (one split, and the mean over
    repeated splits), and the uncertain threshold."""
    runs = {m: [two_fold(probs, labels, m, SPLIT_SEED + i) for i in range(REPEATED_SPLITS)] for m in METHODS}
    heldout = {m: r[0] for m, r in runs.items()}  # the first split is the one reported alone
    repeated = {m: _summary(r) for m, r in runs.items()}
    chosen = choose(heldout, repeated) if method == "auto" else method
    params = fit(probs, labels, chosen)
    calibrated = apply(probs, params)
    return {**params, "ece_bins": ECE_BINS,
            "val": {"before": _figures(probs, labels), "after": _figures(calibrated, labels)},
            "val_2fold_heldout": heldout[chosen], "val_2fold_heldout_by_method": heldout,
            "val_2fold_heldout_repeated": repeated[chosen], "val_2fold_heldout_repeated_by_method": repeated,
            "ece_noise_floor_half": ece_noise_floor(calibrated, len(labels) // 2),
            "uncertain": uncertain_threshold(calibrated, labels)}


def plot_reliability(probs_before: np.ndarray, probs_after: np.ndarray, labels: np.ndarray, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    for probs, name in ((probs_before, "before"), (probs_after, "after")):
        conf, correct = probs.max(1), probs.argmax(1) == labels
        accs = [correct[(conf > lo) & (conf <= hi)].mean() if ((conf > lo) & (conf <= hi)).any() else np.nan
                for lo, hi in zip(edges[:-1], edges[1:])]
        ax.plot(centres, accs, "o-", label=f"{name} (ECE {ece(probs, labels):.3f})")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability on val ({ECE_BINS} bins)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


@keras.saving.register_keras_serializable(package="fer_trainer")
class Calibration(keras.layers.Layer):
    """Logits in, calibrated logits out: class_scale * log_softmax(logits) + class_bias.

    log_softmax first, because a per-class scale of raw logits would not be a scale of the
    log-probabilities the parameters were fitted on (the normaliser would not cancel).
    """

    def __init__(self, class_scale=(), class_bias=(), **kwargs):
        super().__init__(**kwargs)
        self.class_scale, self.class_bias = [float(v) for v in class_scale], [float(v) for v in class_bias]

    def call(self, logits):
        log_p = keras.ops.log_softmax(logits, axis=-1)
        return log_p * keras.ops.convert_to_tensor(self.class_scale) + keras.ops.convert_to_tensor(self.class_bias)

    def get_config(self):
        return {**super().get_config(), "class_scale": self.class_scale, "class_bias": self.class_bias}


@keras.saving.register_keras_serializable(package="fer_trainer")
class TopLabelCalibration(keras.layers.Layer):
    """Logits in, calibrated log-probabilities out (see `top_label_log_probs`): the top class's
    log-odds against the rest scaled and shifted by its class's parameters, but kept above the
    runner-up's share, and the other classes sharing the rest in their own proportions."""

    def __init__(self, top_scale=(), top_bias=(), margin: float = TOP_LABEL_MARGIN, **kwargs):
        super().__init__(**kwargs)
        self.top_scale, self.top_bias = [float(v) for v in top_scale], [float(v) for v in top_bias]
        self.margin = float(margin)

    def call(self, logits):
        ops = keras.ops
        log_p = ops.log_softmax(logits, axis=-1)
        # The first class at the maximum, as numpy's argmax; not ops.argmax, whose TensorFlow
        # form needs an op (BitwiseAnd) that TFLite's builtins lack.
        at_max = ops.cast(log_p >= ops.max(log_p, axis=-1, keepdims=True), log_p.dtype)
        is_top = at_max * ops.cast(ops.cumsum(at_max, axis=-1) == 1, log_p.dtype)
        others = ops.where(is_top > 0, ops.full_like(log_p, -1e30), log_p)
        log_rest = ops.logsumexp(others, axis=-1)
        odds = ops.sum(log_p * is_top, axis=-1) - log_rest
        scale = ops.sum(is_top * ops.convert_to_tensor(self.top_scale, dtype=log_p.dtype), axis=-1)
        bias = ops.sum(is_top * ops.convert_to_tensor(self.top_bias, dtype=log_p.dtype), axis=-1)
        u = ops.maximum(scale * odds + bias, ops.max(others, axis=-1) - log_rest + self.margin)
        rest = log_p - ops.expand_dims(log_rest + ops.softplus(u), -1)
        return ops.where(is_top > 0, ops.expand_dims(-ops.softplus(-u), -1), rest)

    def get_config(self):
        return {**super().get_config(), "top_scale": self.top_scale, "top_bias": self.top_bias, "margin": self.margin}


def with_calibration(model: keras.Model, params: dict) -> keras.Model:
    inputs = keras.Input(model.inputs[0].shape[1:], name="pixels")
    if params.get("method") == "top-label":
        layer = TopLabelCalibration(params["top_scale"], params["top_bias"], name="calibration")
    else:
        layer = Calibration(params["class_scale"], params["class_bias"], name="calibration")
    return keras.Model(inputs, layer(model(inputs)), name=f"calibrated_{model.name}")


def write_report(result: dict, probs_before: np.ndarray, labels: np.ndarray, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "calibration.json").write_text(json.dumps(result, indent=2))
    plot_reliability(probs_before, apply(probs_before, result), labels, folder / "reliability.png")
