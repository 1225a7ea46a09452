"""MTCNN's P/R/O-Net, run by OpenCV DNN from the ONNX graphs in ``mtcnn_graphs/``.

Why not the `mtcnn` wheel's Keras models: the networks are tiny (10-128 channels) and
TensorFlow's per-call and per-op overhead dominated them (`make bench-detect` measures the
detectors). The graphs carry that wheel's weights and are written by ``mtcnn_export``; loading
files keeps TensorFlow and the `mtcnn` package out of the gateway and of every detection worker.
Each network takes one grey plane (see ``mtcnn_export`` for why).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

GRAPH_DIR = Path(__file__).with_name("mtcnn_graphs")
NAMES = ("pnet", "rnet", "onet")


class Net:
    """One OpenCV DNN network. Not thread-safe: every detector (one per detection worker) owns its own."""

    def __init__(self, graph: bytes, outputs: list[str]) -> None:
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(graph, np.uint8))
        self._outputs = outputs

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        """``batch``: float32 [N, H, W] grey planes scaled to [-1, 1]; outputs as the Keras models'
        (PNet maps in NHWC; RNet: box offsets, scores; ONet: box offsets, landmarks, scores)."""
        self._net.setInput(np.ascontiguousarray(batch[:, None], np.float32))
        out = self._net.forward(self._outputs)
        return [o.transpose(0, 2, 3, 1) if o.ndim == 4 else o for o in out]


def pnet() -> Net:
    return Net(graph("pnet"), ["reg", "prob"])


def rnet() -> Net:
    return Net(graph("rnet"), ["reg", "prob"])


def onet() -> Net:
    return Net(graph("onet"), ["reg", "landmarks", "prob"])


@functools.cache
def graph(name: str) -> bytes:
    if name not in NAMES:
        raise ValueError(f"no MTCNN network {name!r}; one of {NAMES}")
    return (GRAPH_DIR / f"{name}.onnx").read_bytes()
