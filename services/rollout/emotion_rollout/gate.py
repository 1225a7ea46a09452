"""The evaluation gate: a candidate may go to canary only if it is not worse than stable.

Both versions are scored on the same validation images with the trainer's own evaluation code, so
the gate and the training report cannot disagree about what "accuracy" means. The verdict is kept
in `<gate dir>/gate-<N>.json` (ROLLOUT_GATE_DIR; by default `<model base>/.rollout`, a hidden name
that nothing treats as a version), and `canary` refuses a version without a passing verdict against
the current stable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
from emotion_contract import layout
from emotion_contract.atomic import write_atomic
from emotion_contract.labels import EMOTIONS, IMAGE_SIZE

from .errors import GateMissing, GateRefused, VersionNotFound
from .versions import require_version


@dataclass(frozen=True)
class GateVerdict:
    candidate: int
    baseline: int
    metric: str
    candidate_score: float
    baseline_score: float
    margin: float
    images: int
    passed: bool
    reason: str
    evaluated_at: str


def _score(metrics: dict, metric: str) -> float:
    return float(metrics["plain"][metric])


def evaluate_versions(model_base: Path, versions: list[int], data: str, limit: int = 0) -> dict[int, dict]:
    """Trainer metrics of each version on the validation split (optionally a fixed random subset)."""
    from fer_trainer.data import load_split
    from fer_trainer.evaluate import evaluate

    split = load_split(data, "val")
    images, labels = split.images, split.labels
    if 0 < limit < len(labels):
        # A fixed seed keeps the subset identical for both versions and across runs; the split is
        # sorted by class, so a plain prefix would be a single emotion.
        pick = np.sort(np.random.default_rng(0).permutation(len(labels))[:limit])
        images, labels = images[pick], labels[pick]
    results = {}
    for version in dict.fromkeys(versions):
        # A folder that is complete by name but does not load (corrupt, wrong signature) is refused
        # here, so it can never get a passing verdict, and so never a label.
        predict = load_check(model_base, version)
        try:
            metrics, _ = evaluate(predict, images, labels)
        except Exception as exc:  # noqa: BLE001 - whatever TensorFlow raises, the version is unusable
            raise GateRefused(f"version {version} does not load as a model ({type(exc).__name__}: {exc})") from exc
        results[version] = metrics
    return results


def load_check(model_base: Path, version: int) -> Callable[[np.ndarray], np.ndarray]:
    """The version's predictor, once it has loaded and answered a blank face with one probability
    per label, for seven labels: what the embedded gateway requires before it serves a version
    (emotion_api.backends.embedded). GateRefused otherwise, whatever TensorFlow raised."""
    from fer_trainer.evaluate import load_predictor

    folder = require_version(model_base, version)
    try:
        names = layout.read_label_names(folder)
        predict = load_predictor(folder)
        answer = predict(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE), np.uint8))
    except Exception as exc:  # noqa: BLE001 - whatever TensorFlow raises, the version is unusable
        raise GateRefused(f"version {version} does not load as a model ({type(exc).__name__}: {exc})") from exc
    if len(names) != len(EMOTIONS) or answer.shape != (1, len(names)):
        raise GateRefused(f"version {version} does not answer {len(EMOTIONS)} probabilities per face "
                          f"(labels {list(names)}, output shape {answer.shape})")
    return predict


def newest_loading_version(model_base: Path, log: Callable[[str], None] = lambda _: None) -> int:
    """The newest complete version that passes ``load_check``: what the embedded gateway serves
    while no state file exists, since it refuses a folder that does not load and serves the next
    newest instead. Only as many versions are loaded as it takes, newest first."""
    for version in reversed(layout.complete_versions(model_base)):
        try:
            load_check(model_base, version)
        except GateRefused as exc:
            log(f"skipping {exc.message}")
            continue
        return version
    raise VersionNotFound(f"no version under {model_base} loads as a model")


def judge(candidate: int, baseline: int, metrics: dict[int, dict], metric: str, margin: float) -> GateVerdict:
    cand, base = _score(metrics[candidate], metric), _score(metrics[baseline], metric)
    passed = cand >= base - margin
    relation = "within" if passed else "worse than"
    reason = (f"candidate {candidate} {metric} {cand:.4f} vs stable {baseline} {base:.4f}: "
              f"{relation} the allowed margin of {margin:.4f} (difference {cand - base:+.4f})")
    return GateVerdict(candidate, baseline, metric, cand, base, margin, int(metrics[candidate]["images"]),
                       passed, reason, datetime.now(timezone.utc).isoformat(timespec="seconds"))


def verdict_path(gate_dir: Path, version: int) -> Path:
    return gate_dir / f"gate-{version}.json"


def save_verdict(gate_dir: Path, verdict: GateVerdict) -> Path:
    path = verdict_path(gate_dir, verdict.candidate)
    write_atomic(path, json.dumps(asdict(verdict), indent=2) + "\n")
    return path


def require_passed(gate_dir: Path, version: int, stable: int) -> GateVerdict:
    path = verdict_path(gate_dir, version)
    if not path.exists():
        raise GateMissing(f"version {version} has not been through the evaluation gate; "
                          f"run `candidate {version}` first")
    verdict = GateVerdict(**json.loads(path.read_text()))
    if not verdict.passed:
        raise GateRefused(f"version {version} failed the evaluation gate: {verdict.reason}")
    if verdict.baseline != stable:
        raise GateMissing(f"version {version} was judged against version {verdict.baseline}, but stable is "
                          f"now {stable}; run `candidate {version}` again")
    return verdict
