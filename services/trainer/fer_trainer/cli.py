"""Command line: `python -m fer_trainer {train,average,ensemble,evaluate,export,tflite,card}`; see --help of each.

Distillation is `train --teacher VERSION_FOLDER_OR_KERAS` (see distill.py).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .cycles import DEFAULT_CYCLES  # noqa: E402  (after the log-level variable, which TF reads on import)
from .settings import get_settings  # noqa: E402
from .train import Recipe  # noqa: E402


def _add_recipe_args(parser: argparse.ArgumentParser) -> None:
    defaults = Recipe()
    for field in fields(Recipe):
        value = getattr(defaults, field.name)
        flag = "--" + field.name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value, help=f"(default: {value!r})")


def _parser() -> argparse.ArgumentParser:
    from .architectures import ARCHITECTURES

    root = argparse.ArgumentParser(prog="fer-trainer", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="fit a model; with --export, evaluate and export it at the end",
                           description=f"Architectures: {', '.join(sorted(ARCHITECTURES))}.")
    train.add_argument("--data", required=True, help="dataset folder (train/, val/) or fer2013.csv")
    train.add_argument("--run-dir", type=Path, required=True, help="checkpoints, history and run.json")
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    train.add_argument("--export", action="store_true", help="evaluate on val and export the next version")
    train.add_argument("--cycles", action="store_true",
                       help=f"the default recipe: warm-restart cycles ({' + '.join(str(c.epochs) for c in DEFAULT_CYCLES)} "
                            "epochs) in RUN_DIR/cycle-1, cycle-2, ...; they set the epochs, learning rate, warm-up, augmentation and seed, "
                            "run every epoch (no early stopping), and --resume continues inside the cycle that stopped")
    train.add_argument("--cycle-seed", type=int, default=None,
                       help="with --cycles: seed cycle K with CYCLE_SEED + K - 1 instead of the recipe's seeds, "
                            "to train another member of the same recipe for an ensemble")
    train.add_argument("--models", type=Path, default=get_settings().model_base_path,
                       help="model base path (env MODEL_BASE_PATH; default: %(default)s)")
    train.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    _add_export_args(train)
    _add_recipe_args(train)

    average = sub.add_parser(
        "average", help="average checkpoints' weights (SWA) and recompute BatchNorm statistics",
        description="Writes one .keras model whose weights are the mean of the checkpoints' and whose "
                    "BatchNorm statistics are recomputed on the un-augmented training images. With one "
                    "checkpoint it only recomputes the statistics, which training leaves describing "
                    "augmented images.")
    average.add_argument("checkpoints", nargs="+", type=Path, help=".keras or .weights.h5 files of one architecture")
    average.add_argument("--arch", default=Recipe.arch, help="(default: %(default)s)")
    average.add_argument("--data", required=True, help="dataset whose train split gives the statistics")
    average.add_argument("--out", type=Path, required=True, help="the averaged .keras model")

    ensemble = sub.add_parser(
        "ensemble", help="combine trained models into one that averages their probabilities",
        description="Writes one .keras model whose output is the mean of the members' class "
                    "probabilities; export serves it like any single model, at the sum of the "
                    "members' inference cost. A member is a .keras file or an exported version "
                    "folder (ARCH:FOLDER for versions whose model card does not name the "
                    "architecture, such as versions 1-5, all vgg-lite: vgg-lite:FOLDER).")
    ensemble.add_argument("members", nargs="+", help=".keras files or version folders, two or more")
    ensemble.add_argument("--out", type=Path, required=True, help="the ensemble's .keras model")

    evaluate = sub.add_parser("evaluate", help="write a report folder for a model on one split")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", default="val")
    evaluate.add_argument("--model", type=Path, required=True, help=".keras file or SavedModel version folder")
    evaluate.add_argument("--run-dir", type=Path, help="training run, for learning curves and timing")
    evaluate.add_argument("--out", type=Path, required=True)

    export = sub.add_parser("export", help="export a .keras model as the next SavedModel version (+ TFLite)")
    export.add_argument("--model", type=Path, required=True, help=".keras file, for example RUN_DIR/best.keras")
    export.add_argument("--models", type=Path, default=get_settings().model_base_path,
                        help="model base path (env MODEL_BASE_PATH; default: %(default)s)")
    export.add_argument("--data", help="dataset: real warm-up requests, TFLite check and report on val")
    export.add_argument("--run-dir", type=Path, help="training run, for the report's learning curves")
    _add_export_args(export)

    lite = sub.add_parser("tflite", help="rewrite a version's TFLite copies (float16, --int8) from its SavedModel "
                                         "and check them on val")
    lite.add_argument("version", type=Path, help="version folder, for example models/emotion/9")
    lite.add_argument("--data", required=True, help="dataset: val for the check, train for int8 ranges")
    lite.add_argument("--int8", action="store_true", help="also write the int8 copy (full-integer, or int8 kernels for an equalized model)")

    card = sub.add_parser("card", help="rewrite a version's report/MODEL_CARD.md from the files in it")
    card.add_argument("version", type=Path, help="version folder, for example models/emotion/10")
    return root


def _add_export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calibration", choices=("auto", "temperature", "vector", "top-label", "none"), default="auto",
                        help="calibration fitted on val and folded into the model; auto = temperature unless "
                             "vector scaling measurably beats it on held-out val, then top-label scaling if its "
                             "held-out ECE (mean of 25 splits) is lower (default: %(default)s)")
    parser.add_argument("--int8", action="store_true",
                        help="also write a full-integer TFLite copy (emotion.int8.tflite) and check it on val")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .data import DatasetError
    from .ensemble import MemberError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "average":
            from .average import average_to_file
            from .data import load_split
            missing = [str(p) for p in args.checkpoints if not p.is_file()]
            if missing:
                print(f"error: no such checkpoint: {', '.join(missing)}", file=sys.stderr)
                return 2
            average_to_file(args.arch, args.checkpoints, load_split(args.data, "train").images, args.out)
            print(f"wrote {args.out}", flush=True)
            return 0
        if args.command == "ensemble":
            from .ensemble import ensemble_to_file
            ensemble_to_file(args.members, args.out)
            print(f"wrote {args.out}", flush=True)
            return 0
        if args.command == "evaluate":
            from .evaluate import evaluate_to_folder
            evaluate_to_folder(args.model, args.data, args.split, args.out, args.run_dir)
            return 0
        if args.command == "tflite":
            from .export import rewrite_tflite
            rewrite_tflite(args.version, args.data, args.int8)
            return 0
        if args.command == "card":
            from .model_card import write_model_card
            print(f"wrote {write_model_card(args.version)}", flush=True)
            return 0
        from .export import export_with_report
        export_with_report(args.model, args.models, args.data, args.run_dir, args.calibration, args.int8, _command())
        return 0
    except (DatasetError, MemberError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _train(args) -> int:
    import numpy as np

    from .data import load_split
    from .train import fit

    recipe = Recipe(**{f.name: getattr(args, f.name) for f in fields(Recipe)})
    train, val = load_split(args.data, "train"), load_split(args.data, "val")
    if args.limit:
        train = train.take(np.arange(min(args.limit, len(train))))
    print(f"train {len(train)} images, val {len(val)} images, recipe {recipe}", flush=True)
    if args.cycles:
        from .cycles import fit_cycles
        from .export import export_with_report
        final = fit_cycles(train, val, args.run_dir, recipe, resume=args.resume, seed=args.cycle_seed)
        if args.export:
            export_with_report(final, args.models, args.data, args.run_dir, args.calibration, args.int8, _command())
        return 0
    fit(train, val, args.run_dir, recipe, resume=args.resume)
    if args.export:
        from .average import average_to_file
        from .export import export_with_report
        # The best checkpoint's BatchNorm statistics describe augmented images; recomputing them on
        # the plain ones gained 0.9-1.4 points of val accuracy on versions 1, 3 and 4.
        final = args.run_dir / "final.keras"
        average_to_file(recipe.arch, [args.run_dir / "best.keras"], train.images, final)
        export_with_report(final, args.models, args.data, args.run_dir, args.calibration, args.int8, _command())
    return 0


def _command() -> str:
    """The command line that ran, for the model card's "reproduce" line."""
    return "python -m fer_trainer " + shlex.join(sys.argv[1:])
