"""MTCNN's P/R/O-Net, run by onnxruntime from the ONNX graphs in ``mtcnn_graphs/``.

Why not the `mtcnn` wheel's Keras models: the networks are tiny (10-128 channels) and
TensorFlow's per-call and per-op overhead dominated them (`make bench-detect` measures the
detectors). The graphs carry that wheel's weights and are written by ``mtcnn_export``; loading
files keeps TensorFlow and the `mtcnn` package out of the gateway and of every detection worker.
Each network takes one grey plane (see ``mtcnn_export`` for why).

Why onnxruntime rather than OpenCV DNN, which ran them before: same outputs (1e-5), and on this
2-core machine, one thread each, PNet ran 1.0-1.3x, RNet 1.7-1.8x and ONet 1.4-1.7x as fast
(the batches the cascade sends), the whole cascade 1.4x (docs/detection.md). The OpenCV DNN
runtime stays as ``runtime="opencv"``: `make bench-detect` measures the old default against the
new one in the same run, interleaved, which is the only fair comparison on a machine whose speed
drifts.
"""

from __future__ import annotations

import functools
from pathlib import Path

from typing import Literal

import cv2
import numpy as np
import onnxruntime

Runtime = Literal["onnxruntime", "opencv"]

GRAPH_DIR = Path(__file__).with_name("mtcnn_graphs")
NAMES = ("pnet", "rnet", "onet")


class Net:
    """One network in its own single-threaded session; every detector (one per detection worker)
    owns its own, so workers never share or wait on one."""

    def __init__(self, graph: bytes, outputs: list[str], runtime: Runtime = "onnxruntime") -> None:
        self._outputs = outputs
        if runtime == "opencv":
            self._net = cv2.dnn.readNetFromONNX(np.frombuffer(graph, np.uint8))
            return
        if runtime != "onnxruntime":
            raise ValueError(f"MTCNN runtime must be 'onnxruntime' or 'opencv', got {runtime!r}")
        self._net = None
        options = onnxruntime.SessionOptions()
        # Detection is already parallel across images (one per worker); threads inside a
        # session would only contend for the same cores, and idle ones spin.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: the graphs' unused-initializer notes are noise
        self._session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        """``batch``: float32 [N, H, W] grey planes scaled to [-1, 1]; outputs as the Keras models'
        (PNet maps in NHWC; RNet: box offsets, scores; ONet: box offsets, landmarks, scores)."""
        planes = np.ascontiguousarray(batch[:, None], np.float32)
        if self._net is not None:
            self._net.setInput(planes)
            out = self._net.forward(self._outputs)
        else:
            out = self._session.run(self._outputs, {self._input: planes})
        return [o.transpose(0, 2, 3, 1) if o.ndim == 4 else o for o in out]


def pnet(runtime: Runtime = "onnxruntime") -> Net:
    return Net(graph("pnet"), ["reg", "prob"], runtime)


def rnet(runtime: Runtime = "onnxruntime") -> Net:
    return Net(graph("rnet"), ["reg", "prob"], runtime)


def onet(runtime: Runtime = "onnxruntime") -> Net:
    return Net(graph("onet"), ["reg", "landmarks", "prob"], runtime)


@functools.cache
def graph(name: str) -> bytes:
    if name not in NAMES:
        raise ValueError(f"no MTCNN network {name!r}; one of {NAMES}")
    return (GRAPH_DIR / f"{name}.onnx").read_bytes()
