"""Real-photo benchmark: the gateway's own path on labelled photos in the wild, against `fer`.

Every photo of ../shared/datasets/real-photos/ goes through what POST /v1/emotions does, in this
process: decode_image, the gateway's Runtime (detection pool, batcher, embedded backend) with its
default settings plus any --set, one photo at a time. The answer for a photo is the emotion of
its largest face; a photo without a face counts as wrong. That runs for the served version (the
highest under models/emotion/) and for each --model (a version folder or a model base path), then
`fer` runs on the same files in build/fer-venv (its pins conflict with .venv), and face-api.js's
expression network on this gateway's face boxes (bench/faceapi_peer.py).

Prints per model: faces found, accuracy, macro-F1 over the seven emotions, per-class recall.
Writes <out>/<model>.confusion.png and <out>/results.json (figures and per-photo answers).

Usage: python bench/real_photos.py [--model PATH]... [--set NAME=VALUE]... [--data DIR] [--out DIR] [--limit N] [--no-fer]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "services" / s) for s in ("contract", "api", "trainer")]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from emotion_api.core.config import Settings  # noqa: E402
from emotion_api.image_decode import decode_image  # noqa: E402
from emotion_api.runtime import Runtime  # noqa: E402
from emotion_contract import layout  # noqa: E402
from emotion_contract.labels import EMOTIONS  # noqa: E402

DATA = REPO.parent / "shared" / "datasets" / "real-photos"
SERVED = REPO / "models" / "emotion"
FER_PYTHON = REPO / "build" / "fer-venv" / "bin" / "python"
NO_FACE = "no face"
# Runs in build/fer-venv. Photos are read with cv2.imread, because fer expects BGR: fed RGB
# arrays (harmless on bench/gateway_bench.py's gray scenes) it scored 0.33 here instead of 0.38.
FER_SCRIPT = r"""
import json, sys
from importlib.metadata import version
import cv2
try:
    from fer import FER
except ImportError:  # 25.x no longer re-exports it from the package
    from fer.fer import FER
detector = FER(mtcnn=False)
faces = [[{"width": int(f["box"][2]), "height": int(f["box"][3]), "emotion": max(f["emotions"], key=f["emotions"].get)}
          for f in detector.detect_emotions(cv2.imread(path))] for path in json.loads(sys.argv[1])]
print(json.dumps({"version": version("fer"), "faces": faces}))
"""


@dataclass(frozen=True)
class Photo:
    path: Path
    emotion: str


Faces = list[dict]  # per photo: {"width", "height", "emotion"} for every face found


def load_photos(data: Path, limit: int | None = None) -> list[Photo]:
    entries = json.loads((data / "labels.json").read_text())
    return [Photo(data / e["file"], e["emotion"]) for e in entries[:limit]]


def version_folder(path: Path) -> Path:
    """A SavedModel version folder as given, or the highest version in a model base path."""
    if (path / layout.SAVED_MODEL_FILE).is_file():
        return path
    newest = layout.newest_version(path)
    if newest is None:
        raise SystemExit(f"{path} is neither a version folder nor a model base path with versions")
    return path / str(newest)


async def gateway_faces(photos: list[Photo], model: Path, overrides: dict[str, str]) -> list[Faces]:
    """Every photo through the gateway's pipeline serving exactly ``model`` (a version folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        # A private base path holding only this version: the backend serves its newest version,
        # and no rollout.json beside the real versions can route requests elsewhere.
        base = Path(tmp)
        (base / (model.name if model.name.isdigit() else "1")).symlink_to(model.resolve(), target_is_directory=True)
        runtime = Runtime(Settings(**{"log_level": "warning", **overrides, "model_base_path": base}))
        await runtime.start()
        try:
            async with asyncio.timeout(300):
                while not await runtime.backend.ready():
                    await asyncio.sleep(0.1)
            found = []
            for photo in photos:
                gray = decode_image(photo.path.read_bytes(), max_pixels=runtime.settings.max_image_pixels)
                result = await runtime.pipeline.analyze(gray)
                found.append([{"width": f.box.width, "height": f.box.height, "emotion": f.emotion}
                              for f in result.faces])
            return found
        finally:
            await runtime.stop()


def fer_faces(photos: list[Photo]) -> tuple[str, list[Faces]] | None:
    """fer's version and the faces it found in each photo (its default Haar detector)."""
    if not FER_PYTHON.exists() or subprocess.run([str(FER_PYTHON), "-c", "import fer.fer"],
                                                 capture_output=True).returncode:
        print(f"fer: NOT AVAILABLE - not installed in {FER_PYTHON.parents[1]} (make bench-real installs it)")
        return None
    result = subprocess.run([str(FER_PYTHON), "-c", FER_SCRIPT, json.dumps([str(p.path) for p in photos])],
                            capture_output=True, text=True, check=True)
    reply = json.loads(result.stdout.strip().splitlines()[-1])  # fer's dependencies may print first
    return reply["version"], reply["faces"]


def faceapi_results(photos: list[Photo], truth: list[str], out: Path) -> dict:
    """face-api.js's expression network on this gateway's faces: colour crops as its own pipeline
    feeds it, and this gateway's 48x48 gray crops (bench/faceapi_peer.py)."""
    import faceapi_peer

    if not faceapi_peer.available():
        print(f"face-api.js: NOT AVAILABLE - not in {faceapi_peer.PACKAGE} (make bench-real fetches it)")
        return {}
    results = {}
    for crops, what in (("colour", "colour crops, 112 px"), ("gray48", "this gateway's 48 px gray crops")):
        faces = faceapi_peer.photo_faces([p.path for p in photos], crops)
        name = f"face-api.js {faceapi_peer.version()} expressions ({what}; this gateway's detector)"
        results[f"face-api {crops}"] = record(name, None, photos, truth, faces, out)
    return results


def answer(faces: Faces) -> str:
    """The emotion of the largest face (by box area), as a user looking at one portrait reads it."""
    if not faces:
        return NO_FACE
    return max(faces, key=lambda f: f["width"] * f["height"])["emotion"]


def score(truth: list[str], answers: list[str]) -> dict:
    """Figures over the seven emotions; "no face" is a wrong answer (an eighth column, never a row)."""
    columns = [*EMOTIONS, NO_FACE]
    confusion = np.zeros((len(EMOTIONS), len(columns)), int)
    for true, said in zip(truth, answers, strict=True):
        confusion[EMOTIONS.index(true), columns.index(said)] += 1
    hits = np.diag(confusion[:, :len(EMOTIONS)])
    rows, predicted = confusion.sum(1), confusion[:, :len(EMOTIONS)].sum(0)
    f1 = 2 * hits / np.maximum(rows + predicted, 1)  # 2TP / (2TP + FN + FP)
    # Over the emotions that occur as truth or answer (sklearn's macro default): a few photos
    # without, say, disgust should not score a 0 for it.
    present = (rows + predicted) > 0
    return {
        "photos": len(truth),
        "faces_found": float(1 - confusion[:, -1].sum() / len(truth)),
        "accuracy": float(hits.sum() / len(truth)),
        "macro_f1": float(f1[present].mean()),
        "recall": {name: float(hit / n) if n else None for name, hit, n in zip(EMOTIONS, hits, rows)},
        "support": {name: int(n) for name, n in zip(EMOTIONS, rows)},
        "columns": columns,
        "confusion": confusion.tolist(),
    }


def plot_confusion(figures: dict, title: str, out: Path) -> None:
    """The trainer's confusion-matrix style (counts, row-normalised %), plus a "no face" column."""
    cm = np.array(figures["confusion"])
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(cm.shape[1]), figures["columns"], rotation=45, ha="right")
    ax.set_yticks(range(cm.shape[0]), EMOTIONS)
    ax.set_xlabel("predicted (largest face)")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(f"{title}: {figures['photos']} real photos (counts, row-normalised %)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def report(name: str, figures: dict) -> None:
    print(f"{name}: faces found {figures['faces_found']:.3f}   accuracy {figures['accuracy']:.3f}   "
          f"macro-F1 {figures['macro_f1']:.3f}   ({figures['photos']} photos)")
    print("    recall: " + "   ".join(f"{k} {v:.2f} (n={figures['support'][k]})"
                                       for k, v in figures["recall"].items() if v is not None))


def record(name: str, model: Path | None, photos: list[Photo], truth: list[str], faces: list[Faces],
           out: Path) -> dict:
    answers = [answer(f) for f in faces]
    figures = score(truth, answers)
    report(name, figures)
    plot_confusion(figures, name, out / f"{re.sub(r'[^A-Za-z0-9.]+', '-', name).strip('-')}.confusion.png")
    per_photo = [{"file": p.path.name, "truth": p.emotion, "answer": a, "faces": len(f)}
                 for p, a, f in zip(photos, answers, faces, strict=True)]
    return {"model": str(model) if model else None, **figures, "per_photo": per_photo}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, action="append", default=[],
                        help="a version folder or model base path to measure too (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a gateway setting for every model, e.g. --set DETECTOR=haar (repeatable)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-real")
    parser.add_argument("--limit", type=int, help="only the first N photos (a quick look, not a figure)")
    parser.add_argument("--into-reports", action="store_true",
                        help="also write each measured version's report/real_photos.json (read by its MODEL_CARD.md)")
    parser.add_argument("--no-fer", action="store_true",
                        help="skip the peers (fer, face-api.js), e.g. for an A/B of gateway settings, where their figures do not change")
    args = parser.parse_args()
    overrides = {name.lower(): value for name, value in (item.split("=", 1) for item in args.set)}
    unknown = set(overrides) - set(Settings.model_fields)
    if unknown:  # Settings ignores unknown names, which would make a typo measure the default
        parser.error(f"not a gateway setting: {', '.join(sorted(unknown)).upper()}")
    photos = load_photos(args.data, args.limit)
    truth = [p.emotion for p in photos]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(photos)} photos from {args.data}" + (f"; settings {' '.join(args.set)}" if args.set else ""))
    results = {"data": str(args.data), "settings": args.set, "models": {}}
    for given in [SERVED, *args.model]:
        model = version_folder(given)
        name = f"served v{model.name}" if given == SERVED else str(given)
        faces = asyncio.run(gateway_faces(photos, model, overrides))
        results["models"][name] = record(name, model, photos, truth, faces, args.out)
    fer = None if args.no_fer else fer_faces(photos)
    if fer is not None:
        results["fer"] = record(f"fer {fer[0]} (Haar)", None, photos, truth, fer[1], args.out)
    if not args.no_fer:
        results.update(faceapi_results(photos, truth, args.out))
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}/results.json and the confusion matrices beside it")
    if args.into_reports:
        command = "make bench-real BENCH_ARGS=\"" + " ".join(sys.argv[1:]) + "\""
        for name, figures in results["models"].items():
            confusion = args.out / f"{re.sub(r'[^A-Za-z0-9.]+', '-', name).strip('-')}.confusion.png"
            write_report(Path(figures["model"]), figures, results.get("fer"), args.set, command, confusion)


def write_report(version: Path, figures: dict, fer: dict | None, settings: list[str], command: str,
                 confusion: Path) -> None:
    """The version's real-photo figures and confusion matrix, with a Markdown summary its model card quotes."""
    import shutil

    rows = [("this version", figures)] + ([("`fer` 25.10.3 (its Haar detector), same photos", fer)] if fer else [])
    lines = [f"On {figures['photos']} real photographs (`../shared/datasets/real-photos`, loosely cropped "
             "faces in the wild; evaluation only), through the gateway's own path"
             + (f" with {' '.join(settings)}" if settings else "") + f": `{command}`.", "",
             "| | faces found | accuracy (largest face) | macro-F1 |", "|---|---|---|---|"]
    lines += [f"| {label} | {f['faces_found']:.1%} | {f['accuracy']:.1%} | {f['macro_f1']:.3f} |" for label, f in rows]
    lines += ["", "Recall per class: " + ", ".join(f"{k} {v:.2f}" if v is not None else f"{k} —"
                                                   for k, v in figures["recall"].items()) + ".",
              "", "![real-photo confusion matrix](real_photos_confusion.png)"]
    report = version / "report"
    report.mkdir(exist_ok=True)
    shutil.copy(confusion, report / "real_photos_confusion.png")
    (report / "real_photos.json").write_text(json.dumps({**figures, "fer": fer, "command": command,
                                                          "summary_md": "\n".join(lines)}, indent=2))
    print(f"wrote {report / 'real_photos.json'}")


if __name__ == "__main__":
    main()
