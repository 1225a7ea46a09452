"""Writes a version's human-readable model card, report/MODEL_CARD.md, from the files beside it.

Everything in the card is read from the version folder (assets/model.json, report/metrics.json,
report/calibration.json, report/run.json, and report/real_photos.json when `make bench-real` has
measured the version), so the card can be rewritten at any time with
`python -m fer_trainer card models/emotion/N` and never states a figure the folder does not hold.
"""

from __future__ import annotations

import json
from pathlib import Path

from emotion_contract import layout, signature as sig
from emotion_contract.labels import EMOTIONS

LIMITS = """\
- Trained on FER-2013 only: 48x48 greyscale crops, mostly frontal, mostly young adults, skewed
  towards Western faces. Expect lower accuracy on profiles, children, older people and
  under-represented groups; the real-photo figures above are the closer guide for photographs.
- It expects FER-2013's framing (the whole face, chin to forehead, little background); the
  gateway's detector and cropper produce it. Crops framed otherwise lose accuracy.
- `disgust` has 436 training images (1.5 %) and `fear` is often confused with `sad` and
  `surprise`: read the per-class table before relying on those classes.
- An emotion label is a reading of a facial expression, not of what a person feels."""


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _pct(x) -> str:
    return f"{100 * x:.1f} %" if isinstance(x, (int, float)) else "—"


def render(folder: Path) -> str:
    card = _read(layout.model_card_path(folder))
    report = folder / layout.REPORT_DIR
    metrics, calib = _read(report / "metrics.json"), _read(report / "calibration.json")
    run, real = _read(report / "run.json"), _read(report / "real_photos.json")
    arch = card.get("arch", "unknown")
    if card.get("members"):
        arch += " of " + " + ".join(card["members"])
    lines = [f"# Model card: `{card.get('name', sig.MODEL_NAME)}` version {card.get('version', folder.name)}", "",
             "## Task, input and output", "",
             "Facial expression classification into the seven FER-2013 classes "
             f"({', '.join(EMOTIONS)}).",
             f"Input `{sig.INPUT_KEY}`: uint8 [batch, 48, 48, 1], a greyscale face crop (0..255). "
             f"Output `{sig.OUTPUT_KEY}`: float32 [batch, 7], "
             + ("calibrated probabilities" if card.get("calibration") else "softmax probabilities")
             + " in that label order. Signature `serving_default`; labels also in `metadata` and assets/labels.txt.",
             "", "## Architecture and cost", "",
             f"- architecture: {arch}",
             f"- parameters: {card['parameters']:,}" if "parameters" in card else "- parameters: not recorded",
             (f"- multiply-adds per face: {card['multiply_adds_per_face'] / 1e6:.0f} M"
              if "multiply_adds_per_face" in card else "- multiply-adds per face: not recorded"),
             (f"- SavedModel throughput at batch 32 on the exporting machine: {card['faces_per_s']:.0f} faces/s"
              if "faces_per_s" in card else "- throughput: not recorded")]
    recipe = run.get("recipe")
    lines += ["", "## Training data and recipe", "",
              "FER-2013 Training split (28,709 faces); selected" + (" and calibrated" if card.get("calibration") else "")
              + " on PublicTest (`val`, 3,589 faces); PrivateTest never seen."]
    if recipe:
        lines.append(f"- recipe: `{json.dumps(recipe)}`")
        if run.get("train_seconds"):
            lines.append(f"- {run.get('epochs_done')} epochs, {run['train_seconds'] / 60:.0f} min of training on the training machine")
    if card.get("command"):
        lines.append(f"- reproduce: `{card['command']}`")
    notes = sorted(p.name for p in report.glob("*.md") if p.name not in (layout.MODEL_CARD_MD, "report.md"))
    if notes:
        lines.append("- recipe notes and comparisons: " + ", ".join(f"[{n}]({n})" for n in notes))
    if metrics:
        plain, tta = metrics["plain"], metrics["flip_tta"]
        lines += ["", "## Accuracy on val", "", "| | accuracy | macro-F1 |", "|---|---|---|",
                  f"| plain | {_pct(plain['accuracy'])} | {plain['macro_f1']:.3f} |",
                  f"| horizontal-flip TTA | {_pct(tta['accuracy'])} | {tta['macro_f1']:.3f} |", "",
                  "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, m in plain["per_class"].items():
            lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
        for key, name in (("tflite", "TFLite float16"), ("tflite_int8", "TFLite int8")):
            t = metrics.get(key)
            if t and "error" in t:
                lines.append(f"\n{name}: converted, but does not run (`{t['error']}`), so not kept in the folder.")
            elif t:
                lines.append(f"\n{name}" + (f" ({t['form']})" if t.get("form") else "")
                             + f": accuracy {_pct(t['accuracy'])}, same top-1 as the SavedModel on "
                             f"{t['top1_agreement']:.2%} of val, max |Δp| {t['max_abs_diff']:.1e}, "
                             f"{t.get('file_bytes', 0) / 1e6:.1f} MB"
                             + (" (measured, not kept in the folder: it loses more than 0.3 points of val)."
                                if t.get("kept") is False else "."))
    if calib:
        before, after = calib["val"]["before"], calib["val"]["after"]
        held = calib["val_2fold_heldout"]
        unc = calib["uncertain"]
        param = {"temperature": f"T = {calib.get('temperature', float('nan')):.3f}",
                 "top-label": "a scale and bias of the top probability's log-odds per predicted class; the answer "
                              "never changes (assets/model.json)"}.get(calib["method"],
                                                                      "a scale and bias per class (assets/model.json)")
        lines += ["", "## Calibration", "",
                  f"{calib['method'].capitalize()} scaling ({param}), fitted on val and folded into `serving_default`.",
                  "", f"| | ECE ({calib['ece_bins']} bins) | NLL |", "|---|---|---|",
                  f"| val, before | {before['ece']:.3f} | {before['nll']:.3f} |",
                  f"| val, after | {after['ece']:.3f} | {after['nll']:.3f} |",
                  f"| held-out half of val (2-fold), before | {held['before']['ece']:.3f} | {held['before']['nll']:.3f} |",
                  f"| held-out half of val (2-fold), after | {held['after']['ece']:.3f} | {held['after']['nll']:.3f} |",
                  *([f"| held-out half, mean ± sd of {rep['splits']} random 2-fold splits, after | "
                     f"{rep['ece_mean']:.3f} ± {rep['ece_std']:.3f} | {rep['nll_mean']:.3f} |"]
                    if (rep := calib.get("val_2fold_heldout_repeated")) else []),
                  "", f"On half of val ({metrics.get('images', 0) // 2} faces) even a perfectly calibrated model shows "
                  f"an ECE of about {calib.get('ece_noise_floor_half', float('nan')):.3f} (labels drawn from its own "
                  "probabilities): that is the floor the held-out figure is measured against.",
                  "", "![reliability diagram](reliability.png)", "",
                  f"Uncertain answers: a face whose calibrated top probability is below **{unc['threshold']:.2f}** "
                  f"is flagged `uncertain` (the lowest threshold above which val accuracy is at least "
                  f"{_pct(unc['target_accuracy'])}). On val it flags {_pct(unc['flagged_share'])} of faces; "
                  f"accuracy {_pct(unc['accuracy_not_flagged'])} on the others and {_pct(unc['accuracy_flagged'])} "
                  "on the flagged ones."]
    if real:
        lines += ["", "## Real photographs", "", real.get("summary_md", "")]
    if (report / "frontier.md").is_file():
        lines += ["", "## Accuracy against cost", "", "Every version measured on this machine (`make bench-frontier`):", "",
                  (report / "frontier.md").read_text().strip(), "", "![accuracy-cost frontier](frontier.png)"]
    lines += ["", "## Known limits", "", LIMITS, ""]
    return "\n".join(lines)


def write_model_card(folder: Path) -> Path:
    out = folder / layout.REPORT_DIR / layout.MODEL_CARD_MD
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(folder))
    return out
