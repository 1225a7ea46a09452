"""Accuracy against cost for every model version, student and quantised copy: the frontier.

    make bench-frontier         # or: python bench/frontier.py --data DIR [--model [NAME=]PATH ...] [--out DIR]

For each version under MODEL_BASE_PATH (default models/emotion) and each extra --model folder
(an exported candidate, such as a student not yet shipped), it prints and writes:

- val accuracy, plain and with flip TTA (from the version's report: measured at export on all
  of val), and for each TFLite copy in the folder its own val accuracy (report, or measured);
- multiply-adds per face (counted from the architecture; flip TTA costs twice);
- faces/s measured here: the SavedModel at the gateway's batch size (32), in rounds interleaved
  across models so machine drift hits all alike, and each TFLite copy one face at a time on one
  thread (XNNPACK), the way an edge device runs it.

Outputs in --out: frontier.md (the table), frontier.json and frontier.png (val accuracy against
multiply-adds, and against measured faces/s).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from emotion_contract import layout, signature  # noqa: E402
from fer_trainer.settings import get_settings  # noqa: E402

BATCH = 32
ROUNDS = 3
TFLITE_FACES = 256


def _card(folder: Path) -> dict:
    path = layout.model_card_path(folder)
    return json.loads(path.read_text()) if path.is_file() else {}


def multiply_adds(card: dict) -> int | None:
    """From the card, or counted from the architecture(s) it names (versions exported before the
    card recorded the cost)."""
    if card.get("multiply_adds_per_face"):
        return int(card["multiply_adds_per_face"])
    from fer_trainer import architectures
    from fer_trainer.costs import multiply_adds as count

    names = card.get("members") or ([card["arch"]] if card.get("arch") else [])
    return sum(count(architectures.build(n)) for n in names) if names else None


def saved_model_rate(folder: Path, faces: np.ndarray) -> "callable":
    import tensorflow as tf

    serve = tf.saved_model.load(str(folder)).signatures[signature.SERVING_SIGNATURE]
    x = tf.constant(faces[:BATCH, ..., None])
    serve(**{signature.INPUT_KEY: x})

    def one_round(repeats: int = 10) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            serve(**{signature.INPUT_KEY: x})
        return repeats * BATCH / (time.perf_counter() - start)
    return one_round


def tflite_rate(path: Path, faces: np.ndarray) -> float:
    from fer_trainer.evaluate import tflite_predictor

    predict = tflite_predictor(path)
    predict(faces[:8])
    start = time.perf_counter()
    predict(faces[:TFLITE_FACES])
    return TFLITE_FACES / (time.perf_counter() - start)


def _metrics(folder: Path) -> dict:
    report = folder / "report" / "metrics.json"
    return json.loads(report.read_text()) if report.is_file() else {}


def tflite_accuracy(folder: Path, key: str, name: str, val) -> float | None:
    metrics = _metrics(folder)
    if key in metrics:
        return metrics[key]["accuracy"]
    from fer_trainer.evaluate import tflite_predictor

    return float((tflite_predictor(folder / name)(val.images).argmax(1) == val.labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--models", type=Path, default=get_settings().model_base_path)
    parser.add_argument("--model", action="append", default=[], metavar="[NAME=]PATH",
                        help="extra version folder, optionally named for the table (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("build/bench-frontier"))
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)  # as the embedded backend runs it
    from fer_trainer.data import load_split

    val = load_split(args.data, "val")
    named = [item.split("=", 1) if "=" in item else (item, item) for item in args.model]
    folders = [(f"v{f.name}", f) for f in layout.complete_folders(args.models)] + [(n, Path(p)) for n, p in named]
    rows, runners = [], {}
    for name, folder in folders:
        card = _card(folder)
        val_card = card.get("val") or {}
        macs = multiply_adds(card)
        base = {"model": name, "arch": card.get("arch"), "members": card.get("members"),
                "calibrated": bool(card.get("calibration"))}
        rows.append({**base, "form": "SavedModel", "val_accuracy": val_card.get("plain"), "multiply_adds": macs})
        rows.append({**base, "form": "SavedModel + flip TTA", "val_accuracy": val_card.get("flip_tta"),
                     "multiply_adds": 2 * macs if macs else None})
        runners[name] = saved_model_rate(folder, val.images)
        for key, file, form in (("tflite", layout.TFLITE_FILE, "TFLite"), ("tflite_int8", layout.TFLITE_INT8_FILE, "TFLite int8")):
            if (folder / file).is_file():
                rows.append({**base, "form": form, "val_accuracy": tflite_accuracy(folder, key, file, val),
                             "multiply_adds": macs, "faces_per_s": round(tflite_rate(folder / file, val.images), 1),
                             "faces_per_s_note": "1 face per call, 1 thread"})
            elif (check := _metrics(folder).get(key)) and check.get("kept") is False and "accuracy" in check:
                # Measured at export and dropped for its accuracy loss: its accuracy still belongs
                # on the frontier, its speed cannot be measured without the file.
                rows.append({**base, "form": form, "val_accuracy": check["accuracy"], "multiply_adds": macs,
                             "faces_per_s": None, "faces_per_s_note": "not kept: loses > 0.3 points"})
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(ROUNDS):  # interleaved, so drift hits every model alike
        for name, one_round in runners.items():
            rates[name].append(one_round())
    for row in rows:
        if row["form"].startswith("SavedModel"):
            rate = float(np.median(rates[row["model"]]))
            row["faces_per_s"] = round(rate / (2 if "TTA" in row["form"] else 1), 1)
            row["faces_per_s_note"] = f"batch {BATCH}, 1 thread per op, median of {ROUNDS} rounds"
    write(rows, args.out)


def write(rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.json").write_text(json.dumps(rows, indent=2))
    lines = ["| model | arch | form | val accuracy | multiply-adds per face | faces/s here |", "|---|---|---|---|---|---|"]
    for r in rows:
        arch = r["arch"] + (f" ({' + '.join(r['members'])})" if r.get("members") else "") if r["arch"] else "?"
        acc = f"{100 * r['val_accuracy']:.1f} %" if r["val_accuracy"] is not None else "—"
        macs = f"{r['multiply_adds'] / 1e6:.0f} M" if r["multiply_adds"] else "—"
        rate = f"{r['faces_per_s']:.0f} " if r["faces_per_s"] is not None else "— "
        lines.append(f"| {r['model']} | {arch} | {r['form']} | {acc} | {macs} | {rate}({r['faces_per_s_note']}) |")
    table = "\n".join(lines) + "\n"
    (out / "frontier.md").write_text(table)
    print(table)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, label in ((axes[0], "multiply_adds", "multiply-adds per face (M)"), (axes[1], "faces_per_s", "faces/s on this machine")):
        for form, marker in (("SavedModel", "o"), ("SavedModel + flip TTA", "s"), ("TFLite", "^"), ("TFLite int8", "v")):
            pts = [r for r in rows if r["form"] == form and r["val_accuracy"] is not None and r.get(key)]
            xs = [r[key] / 1e6 if key == "multiply_adds" else r[key] for r in pts]
            ax.scatter(xs, [100 * r["val_accuracy"] for r in pts], marker=marker, label=form)
            for x, r in zip(xs, pts):
                ax.annotate(r["model"], (x, 100 * r["val_accuracy"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel("val accuracy (%)")
        ax.grid(alpha=0.3)
    axes[1].set_xscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle("Accuracy-cost frontier (FER-2013 val)")
    fig.tight_layout()
    fig.savefig(out / "frontier.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out}/frontier.md, frontier.json, frontier.png")


if __name__ == "__main__":
    main()
