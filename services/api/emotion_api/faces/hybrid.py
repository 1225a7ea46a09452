"""Cheap proposals, expensive verification: Haar candidates checked by ONet."""

from __future__ import annotations

import numpy as np

from .haar import HaarDetector
from .nms import nms
from .types import Box, largest_first
from .verify import ONetVerifier


class VerifiedDetector:
    def __init__(
        self, proposer: HaarDetector, verifier: ONetVerifier, *, max_candidates: int = 24, name: str
    ) -> None:
        self.name = name
        self._proposer = proposer
        self._verifier = verifier
        self._max_candidates = max_candidates

    def detect(self, gray: np.ndarray) -> list[Box]:
        # A loose first merge keeps distinct proposals for one face (ONet may like one framing
        # better than another) while bounding how many crops ONet has to score.
        candidates = nms(self._proposer.candidates(gray), 0.6, suppress_contained=False)
        candidates = candidates[: self._max_candidates]
        return largest_first(nms(self._verifier(gray, candidates)))
