"""Do the model versions load and answer the same under TF Serving's TensorFlow as under the trainer's?

TF Serving X.Y embeds TensorFlow X.Y, older than the trainer's when the two pins drift. This runs
every complete version under `models/emotion/` through `serving_default` and `metadata` twice, in
this interpreter (the trainer's TensorFlow) and in ``--python`` (`make check-serving` builds a venv
with requirements/serving-check.txt, the TensorFlow of the pinned Serving image), on real val
images, and compares: max |delta p| per version, top-1 agreement (100 % required), same labels.
Exit status 1 when any version fails to load, disagrees on a top-1 or on its labels.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "services" / "contract"))

from emotion_contract.labels import EMOTIONS, IMAGE_SIZE  # noqa: E402
from emotion_contract.layout import complete_versions  # noqa: E402
from emotion_contract.signature import (  # noqa: E402
    INPUT_KEY,
    LABELS_KEY,
    METADATA_INPUT_KEY,
    METADATA_SIGNATURE,
    OUTPUT_KEY,
    SERVING_SIGNATURE,
)

BATCH = 256


def val_pixels(data: Path, limit: int | None) -> np.ndarray:
    import cv2

    paths = sorted((data / "val").glob("*/*.jpg"))
    if limit:
        paths = paths[:: max(1, len(paths) // limit)][:limit]
    if not paths:
        raise SystemExit(f"no val images under {data}/val")
    faces = [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (IMAGE_SIZE, IMAGE_SIZE)) for p in paths]
    return np.stack(faces)[..., None].astype(np.uint8)


def dump(models: Path, pixels_path: Path, out: Path) -> None:
    """Runs in either interpreter: every version's probabilities and metadata, to ``out`` (.npz + .json)."""
    import tensorflow as tf

    pixels = np.load(pixels_path)
    report: dict = {"tensorflow": tf.__version__, "versions": {}}
    arrays = {}
    for version in complete_versions(models):
        try:
            model = tf.saved_model.load(str(models / str(version)))
            serve, meta = model.signatures[SERVING_SIGNATURE], model.signatures[METADATA_SIGNATURE]
            probs = np.concatenate([
                serve(**{INPUT_KEY: tf.constant(pixels[i:i + BATCH])})[OUTPUT_KEY].numpy()
                for i in range(0, len(pixels), BATCH)
            ])
            labels = meta(**{METADATA_INPUT_KEY: tf.constant(["check"])})[LABELS_KEY].numpy()[0]
            arrays[str(version)] = probs
            report["versions"][str(version)] = {"labels": [label.decode() for label in labels]}
        except Exception as error:  # noqa: BLE001 - a version that fails to load is the finding
            report["versions"][str(version)] = {"error": f"{type(error).__name__}: {error}"[:500]}
    np.savez(out.with_suffix(".npz"), **arrays)
    out.with_suffix(".json").write_text(json.dumps(report))


def run_dump(python: str, models: Path, pixels: Path, out: Path) -> tuple[dict, dict]:
    subprocess.run([python, __file__, "--dump", "--models", str(models), "--pixels", str(pixels), "--out", str(out)],
                   check=True, env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"})
    report = json.loads(out.with_suffix(".json").read_text())
    with np.load(out.with_suffix(".npz")) as npz:
        return report, {k: npz[k] for k in npz.files}


def compare(reference: tuple[dict, dict], serving: tuple[dict, dict]) -> tuple[list[dict], bool]:
    (ref_report, ref_probs), (srv_report, srv_probs) = reference, serving
    rows, ok = [], True
    for version, ref in ref_report["versions"].items():
        srv = srv_report["versions"].get(version, {"error": "not seen"})
        row = {"version": int(version)}
        if "error" in ref or "error" in srv:
            row["error"] = srv.get("error") or ref.get("error")
            ok = False
        else:
            a, b = ref_probs[version], srv_probs[version]
            row["max_abs_delta_p"] = float(np.abs(a - b).max())
            row["top1_agreement"] = float((a.argmax(1) == b.argmax(1)).mean())
            row["labels_equal"] = ref["labels"] == srv["labels"] == list(EMOTIONS)
            ok &= row["top1_agreement"] == 1.0 and row["labels_equal"]
        rows.append(row)
    return rows, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="the interpreter with TF Serving's TensorFlow")
    parser.add_argument("--models", type=Path, default=REPO / "models" / "emotion")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013")
    parser.add_argument("--limit", type=int, default=None, help="val images to use (default: all)")
    parser.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pixels", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(args.models.resolve(), args.pixels, args.out)
        return
    if not args.python:
        parser.error("--python is required")
    with tempfile.TemporaryDirectory(prefix="check-serving-") as tmp:
        pixels = Path(tmp) / "pixels.npy"
        np.save(pixels, val_pixels(args.data, args.limit))
        reference = run_dump(sys.executable, args.models, pixels, Path(tmp) / "reference")
        serving = run_dump(args.python, args.models, pixels, Path(tmp) / "serving")
    rows, ok = compare(reference, serving)
    print(f"trainer TensorFlow {reference[0]['tensorflow']} vs Serving's {serving[0]['tensorflow']}")
    for row in rows:
        print(json.dumps(row))
    print("OK: every version gives the same top-1 on every image" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
