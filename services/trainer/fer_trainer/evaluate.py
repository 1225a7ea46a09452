"""Evaluation reports: metrics.json, confusion_matrix.png, learning_curves.png and report.md."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support  # noqa: E402
from emotion_contract import layout, signature as sig  # noqa: E402
from emotion_contract.labels import EMOTIONS, IMAGE_SIZE  # noqa: E402

from .data import load_split  # noqa: E402

Predict = Callable[[np.ndarray], np.ndarray]  # uint8 [N, 48, 48] -> probabilities [N, 7]


def load_predictor(model_path: Path, batch_size: int = 512) -> Predict:
    """A predictor for a .keras file or a SavedModel folder, both taking raw uint8 faces."""
    import tensorflow as tf

    if model_path.is_dir():
        serve = tf.saved_model.load(str(model_path)).signatures[sig.SERVING_SIGNATURE]

        def run(batch):
            return serve(**{sig.INPUT_KEY: tf.constant(batch[..., None])})[sig.OUTPUT_KEY].numpy()
    else:
        import keras

        from . import ensemble  # noqa: F401  (registers the ensemble's layer for loading)
        model = keras.models.load_model(model_path, compile=False)

        def run(batch):
            return tf.nn.softmax(model(batch[..., None].astype(np.float32), training=False)).numpy()

    def predict(images: np.ndarray) -> np.ndarray:
        return np.concatenate([run(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return predict


def tflite_predictor(path: Path) -> Predict:
    """Float or int8 TFLite: an int8 model's uint8 input is quantised, so raw pixels are mapped
    through its (scale, zero point) first."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    (input_key,) = interpreter.get_signature_list()[sig.SERVING_SIGNATURE]["inputs"]
    detail = runner.get_input_details()[input_key]
    scale, zero = detail["quantization"]

    def to_input(batch: np.ndarray) -> np.ndarray:
        if not scale:
            return batch
        return np.clip(np.round(batch / scale + zero), 0, 255).astype(detail["dtype"])

    def predict(images: np.ndarray) -> np.ndarray:
        # The converter names the single output itself, so take it whatever its key.
        return np.concatenate([next(iter(runner(**{input_key: to_input(images[i:i + 1, ..., None])}).values()))
                               for i in range(len(images))])
    return predict


def edge_faces() -> np.ndarray:
    """Crops a camera does send (black, white, flat grey, a lone bright pixel, two levels) and a
    quantized copy may not survive: a check on val faces alone would pass a copy that stops on them."""
    faces = np.zeros((5, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    faces[1] = 255
    faces[2] = 128
    faces[3, 0, 0] = 255
    faces[4, :, IMAGE_SIZE // 2:] = 200
    return faces


def tflite_check(path: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict:
    """Accuracy of a TFLite copy and its agreement with the SavedModel's probabilities. Raises
    RuntimeError when the interpreter cannot run the copy on some crop."""
    predict = tflite_predictor(path)
    if not np.isfinite(predict(edge_faces())).all():
        raise RuntimeError(f"{path.name} answers NaN or infinity on a flat or near-blank crop")
    lite_probs = predict(images)
    return {"accuracy": float((lite_probs.argmax(1) == labels).mean()),
            "top1_agreement": float((lite_probs.argmax(1) == reference.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(lite_probs - reference).max()),
            "file_bytes": path.stat().st_size}


def checked_copy(key: str, path: Path, images: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict:
    """``tflite_check``, except that an int8 copy which cannot run is a finding, not a failure:
    the int8 copy is optional, the float16 one is part of every version."""
    try:
        return tflite_check(path, images, labels, reference)
    except RuntimeError as error:
        if key != "tflite_int8":
            raise
        return {"error": str(error).strip(), "file_bytes": path.stat().st_size}


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    pred = probs.argmax(1)
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=range(len(EMOTIONS)), zero_division=0)
    return {
        "accuracy": float((pred == labels).mean()),
        "macro_f1": float(f1_score(labels, pred, average="macro", labels=range(len(EMOTIONS)), zero_division=0)),
        "per_class": {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, name in enumerate(EMOTIONS)},
    }


def evaluate(predict: Predict, images: np.ndarray, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    probs = predict(images)
    flipped = predict(images[:, :, ::-1].copy())
    tta = (probs + flipped) / 2
    return {"images": int(len(labels)), "plain": classification_metrics(labels, probs),
            "flip_tta": classification_metrics(labels, tta)}, probs


def plot_confusion(labels, probs, out: Path) -> None:
    cm = confusion_matrix(labels, probs.argmax(1), labels=range(len(EMOTIONS)))
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title("Confusion matrix (counts, row-normalised %)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def read_history(run_dir: Path | None) -> list[dict]:
    if run_dir is None or not (run_dir / "history.csv").exists():
        return []
    with open(run_dir / "history.csv") as handle:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(handle)]


def plot_learning_curves(history: list[dict], out: Path) -> None:
    epochs = [int(h["epoch"]) + 1 for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="val")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _report_md(metrics: dict, split: str) -> str:
    plain, tta = metrics["plain"], metrics["flip_tta"]
    lines = [f"# Evaluation on `{split}` ({metrics['images']} images)", "",
             "| | accuracy | macro-F1 |", "|---|---|---|",
             f"| plain | {plain['accuracy']:.4f} | {plain['macro_f1']:.4f} |",
             f"| horizontal-flip TTA | {tta['accuracy']:.4f} | {tta['macro_f1']:.4f} |", "",
             "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in plain["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    if "training" in metrics:
        t = metrics["training"]
        lines += ["", "## Training", "", f"- recipe: `{json.dumps(t.get('recipe', {}))}`",
                  f"- epochs: {t.get('epochs_done')}, wall time: {t.get('train_seconds', 0) / 60:.1f} min, "
                  f"mean throughput: {t.get('mean_images_per_s', 0):.0f} images/s (training + validation, this CPU)"]
    for key, name in (("tflite", "float16 weights"), ("tflite_int8", "int8")):
        if key in metrics and "error" in metrics[key]:
            lines += ["", f"## TFLite, {name}", "", f"- does not run: `{metrics[key]['error']}`"]
        elif key in metrics:
            t = metrics[key]
            lines += ["", f"## TFLite, {name}" + (f" ({t['form']})" if t.get("form") else ""), "",
                      f"- accuracy {t['accuracy']:.4f}, same top-1 as the SavedModel on "
                      f"{t['top1_agreement']:.2%} of images, max |Δp| {t['max_abs_diff']:.2e}"]
    lines += ["", "![confusion matrix](confusion_matrix.png)"]
    if "training" in metrics:
        lines += ["", "![learning curves](learning_curves.png)"]
    return "\n".join(lines) + "\n"


def evaluate_to_folder(model_path: Path, data: str, split: str, out: Path, run_dir: Path | None = None,
                       version: int | None = None, int8_form: str | None = None) -> dict:
    data_split = load_split(data, split)
    metrics, probs = evaluate(load_predictor(Path(model_path)), data_split.images, data_split.labels)
    if version is not None:
        metrics["version"] = version
    for key, name in (("tflite", layout.TFLITE_FILE), ("tflite_int8", layout.TFLITE_INT8_FILE)):
        if (Path(model_path) / name).exists():
            metrics[key] = checked_copy(key, Path(model_path) / name, data_split.images, data_split.labels, probs)
    if int8_form and "tflite_int8" in metrics:
        metrics["tflite_int8"]["form"] = int8_form
    out.mkdir(parents=True, exist_ok=True)
    history = read_history(run_dir)
    if history:
        run = json.loads((run_dir / "run.json").read_text())
        rates = run.get("images_per_s", [])
        metrics["training"] = {"recipe": run.get("recipe"), "epochs_done": run.get("epochs_done"),
                               "train_seconds": run.get("train_seconds"),
                               "mean_images_per_s": float(np.mean(rates)) if rates else None}
        plot_learning_curves(history, out / "learning_curves.png")
    plot_confusion(data_split.labels, probs, out / "confusion_matrix.png")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "report.md").write_text(_report_md(metrics, split))
    print(f"{split}: accuracy {metrics['plain']['accuracy']:.4f} (flip TTA {metrics['flip_tta']['accuracy']:.4f}), "
          f"macro-F1 {metrics['plain']['macro_f1']:.4f}", flush=True)
    return metrics
