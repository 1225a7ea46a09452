"""Rollout errors carry a stable code, printed as {"error": {"code", "message"}} by the CLI."""

from __future__ import annotations


class RolloutError(Exception):
    code = "rollout_error"
    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def as_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class VersionNotFound(RolloutError):
    code = "version_not_found"
    exit_code = 2


class InvalidTransition(RolloutError):
    """The operation makes no sense in the current state (promote with no canary, ...)."""
    code = "invalid_transition"
    exit_code = 2


class GateRefused(RolloutError):
    code = "gate_refused"
    exit_code = 3


class GateMissing(RolloutError):
    code = "gate_missing"
    exit_code = 3


class ServingError(RolloutError):
    code = "serving_error"
    exit_code = 4
