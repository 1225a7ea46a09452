"""`python -m emotion_rollout {status,candidate,canary,promote,rollback}`.

Settings come from environment variables (see settings.py); the flags below override them. The
result is printed as JSON on stdout, progress on stderr, and a refusal as
{"error": {"code", "message"}} on stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .errors import RolloutError  # noqa: E402
from .settings import RolloutSettings  # noqa: E402

# flag -> settings field it overrides
OVERRIDES = {"models": "model_base_path", "state": "rollout_state_path", "backend": "rollout_backend",
             "serving_config": "serving_model_config", "serving_address": "serving_address",
             "data": "rollout_data", "margin": "rollout_eval_margin", "metric": "rollout_eval_metric"}


def _parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="emotion-rollout", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--models", type=Path, help="model base path (env MODEL_BASE_PATH)")
    root.add_argument("--state", type=Path, help="rollout state file (env ROLLOUT_STATE_PATH)")
    root.add_argument("--backend", choices=("embedded", "serving"), help="(env ROLLOUT_BACKEND)")
    root.add_argument("--serving-config", type=Path, help="models.config to rewrite (env SERVING_MODEL_CONFIG)")
    root.add_argument("--serving-address", help="Serving gRPC host:port (env SERVING_ADDRESS)")
    sub = root.add_subparsers(dest="command", required=True)

    sub.add_parser("status", help="print the rollout state and the complete versions on disk")

    cand = sub.add_parser("candidate", help="evaluation gate: compare a version with stable on val data")
    cand.add_argument("version", type=int, nargs="?", help="default: the newest complete version")
    cand.add_argument("--data", help="dataset folder or fer2013.csv (env ROLLOUT_DATA)")
    cand.add_argument("--margin", type=float, help="largest allowed drop below stable (env ROLLOUT_EVAL_MARGIN)")
    cand.add_argument("--metric", choices=("accuracy", "macro_f1"), help="(env ROLLOUT_EVAL_METRIC)")
    cand.add_argument("--limit", type=int, default=0, help="score a fixed random subset of this many images")

    canary = sub.add_parser("canary", help="send a share of unpinned traffic to a version")
    canary.add_argument("version", type=int)
    canary.add_argument("--weight", type=float, help="share of unpinned requests (env ROLLOUT_CANARY_WEIGHT)")
    canary.add_argument("--skip-gate", action="store_true", help="canary without a passing gate verdict")

    promote = sub.add_parser("promote", help="make the canary (or the named version) stable")
    promote.add_argument("version", type=int, nargs="?")

    sub.add_parser("rollback", help="drop the live canary, or else return stable to the previous version")
    return root


def _settings(args: argparse.Namespace) -> RolloutSettings:
    overrides = {field: getattr(args, flag) for flag, field in OVERRIDES.items()
                 if getattr(args, flag, None) is not None}
    return RolloutSettings(**overrides)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .operations import make_rollout, verdict_json

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        rollout = make_rollout(_settings(args), log)
        if args.command == "status":
            result = rollout.status()
        elif args.command == "candidate":
            result = verdict_json(rollout.candidate(args.version, args.data, args.limit))
        elif args.command == "canary":
            result = rollout.canary(args.version, args.weight, args.skip_gate).to_json()
        elif args.command == "promote":
            result = rollout.promote(args.version).to_json()
        else:
            result = rollout.rollback().to_json()
    except RolloutError as err:
        print(json.dumps(err.as_json()), file=sys.stderr)
        return err.exit_code
    print(json.dumps(result, indent=2))
    return 0
