"""Writes MTCNN's P/R/O-Net, with the `mtcnn` wheel's weights, as the ONNX graphs in
``mtcnn_graphs/`` that ``mtcnn_nets`` loads: ``python -m emotion_api.faces.mtcnn_export``.

Run once per `mtcnn` pin (the files are committed): building them needs the `mtcnn` package and
so TensorFlow, which the gateway must not need at run time (the lean serving install has
neither). ``tests/faces/test_mtcnn_opencv.py`` rebuilds them from the pinned wheel and fails if the
committed files differ, and checks their outputs against the Keras models.

The gateway feeds grey images, whose three channels are equal, so each network's first
convolution has its input-channel weights summed: one input channel, a third of the work,
the same result.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .mtcnn_nets import GRAPH_DIR


def build_graphs() -> dict[str, bytes]:
    """The serialized ONNX graph of each network, built from the pinned `mtcnn` wheel's Keras models."""
    from mtcnn import MTCNN

    stages = MTCNN(stages="face_and_landmarks_detection", device="CPU:0").stages
    keras_nets = {stage.id: stage.model for stage in stages}
    return {"pnet": _pnet(keras_nets[1]), "rnet": _rnet(keras_nets[2]), "onet": _onet(keras_nets[3])}


class _Graph:
    """A small builder over onnx.helper for the handful of ops MTCNN uses (NCHW)."""

    def __init__(self, name: str, input_hw: tuple) -> None:
        from onnx import TensorProto, helper

        self._helper, self._float = helper, TensorProto.FLOAT
        self.name, self.nodes, self.inits, self.outputs = name, [], [], []
        self.input = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, *input_hw])
        self._count = 0

    def _tensor(self, array: np.ndarray) -> str:
        from onnx import numpy_helper

        self._count += 1
        name = f"w{self._count}"
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array, np.float32), name))
        return name

    def _node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        self._count += 1
        out = out or f"t{self._count}"
        self.nodes.append(self._helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x: str, layer, grey: bool = False, out: str | None = None) -> str:
        kernel, bias = (np.asarray(v) for v in layer.weights)  # [kh, kw, cin, cout]
        if grey:
            kernel = kernel.sum(axis=2, keepdims=True)
        kh, kw = kernel.shape[:2]
        return self._node("Conv", [x, self._tensor(kernel.transpose(3, 2, 0, 1)), self._tensor(bias)], out,
                          kernel_shape=[kh, kw])

    def prelu(self, x: str, layer, spatial: bool = True) -> str:
        alpha = np.asarray(layer.weights[0])
        alpha = alpha.reshape(-1, 1, 1) if spatial else alpha.reshape(-1)  # Keras [1, 1, C] -> [C, 1, 1]
        return self._node("PRelu", [x, self._tensor(alpha)])

    def maxpool(self, x: str, layer) -> str:
        size, strides = list(layer.pool_size), list(layer.strides)
        # Keras "same" pads the bottom/right first, as ONNX SAME_UPPER does.
        pad = "SAME_UPPER" if layer.padding == "same" else "VALID"
        return self._node("MaxPool", [x], kernel_shape=size, strides=strides, auto_pad=pad)

    def flatten_like_keras(self, x: str) -> str:
        # The Keras nets Permute((2, 1, 3)) NHWC to NWHC before Flatten; from NCHW that is [0, 3, 2, 1].
        return self._node("Flatten", [self._node("Transpose", [x], perm=[0, 3, 2, 1])], axis=1)

    def dense(self, x: str, layer, out: str | None = None) -> str:
        kernel, bias = (np.asarray(v) for v in layer.weights)  # [in, out]
        return self._node("Gemm", [x, self._tensor(kernel), self._tensor(bias)], out)

    def softmax(self, x: str, out: str) -> str:
        return self._node("Softmax", [x], out, axis=1)

    def output(self, name: str, shape: list) -> None:
        self.outputs.append(self._helper.make_tensor_value_info(name, self._float, shape))

    def serialize(self) -> bytes:
        h = self._helper
        graph = h.make_graph(self.nodes, self.name, [self.input], self.outputs, self.inits)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
        model.ir_version = 8  # what opset 13 needs; readers reject IR versions newer than they know
        return model.SerializeToString()


def _pnet(m) -> bytes:
    g = _Graph("pnet", ("h", "w"))
    x = g.prelu(g.conv("input", m.conv1, grey=True), m.prelu1)
    x = g.maxpool(x, m.maxpool1)
    x = g.prelu(g.conv(x, m.conv2), m.prelu2)
    x = g.prelu(g.conv(x, m.conv3), m.prelu3)
    g.conv(x, m.conv4_1, out="reg")
    g.softmax(g.conv(x, m.conv4_2), "prob")
    g.output("reg", ["n", 4, "a", "b"])
    g.output("prob", ["n", 2, "a", "b"])
    return g.serialize()


def _rnet(m) -> bytes:
    g = _Graph("rnet", (24, 24))
    x = g.maxpool(g.prelu(g.conv("input", m.conv1, grey=True), m.prelu1), m.maxpool1)
    x = g.maxpool(g.prelu(g.conv(x, m.conv2), m.prelu2), m.maxpool2)
    x = g.prelu(g.conv(x, m.conv3), m.prelu3)
    x = g.prelu(g.dense(g.flatten_like_keras(x), m.fc4), m.prelu4, spatial=False)
    g.dense(x, m.fc5_1, out="reg")
    g.softmax(g.dense(x, m.fc5_2), "prob")
    g.output("reg", ["n", 4])
    g.output("prob", ["n", 2])
    return g.serialize()


def _onet(m) -> bytes:
    g = _Graph("onet", (48, 48))
    x = g.maxpool(g.prelu(g.conv("input", m.conv1, grey=True), m.prelu1), m.maxpool1)
    x = g.maxpool(g.prelu(g.conv(x, m.conv2), m.prelu2), m.maxpool2)
    x = g.maxpool(g.prelu(g.conv(x, m.conv3), m.prelu3), m.maxpool3)
    x = g.prelu(g.conv(x, m.conv4), m.prelu4)
    x = g.prelu(g.dense(g.flatten_like_keras(x), m.fc5), m.prelu5, spatial=False)
    g.dense(x, m.fc6_1, out="reg")
    g.dense(x, m.fc6_2, out="landmarks")
    g.softmax(g.dense(x, m.fc6_3), "prob")
    g.output("reg", ["n", 4])
    g.output("landmarks", ["n", 10])
    g.output("prob", ["n", 2])
    return g.serialize()


def write_graphs(directory: Path = GRAPH_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, graph in build_graphs().items():
        path = directory / f"{name}.onnx"
        tmp = path.with_suffix(".onnx.tmp")
        tmp.write_bytes(graph)
        tmp.replace(path)  # never a half-written graph beside the others
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_graphs(Path(sys.argv[1]) if len(sys.argv) > 1 else GRAPH_DIR):
        print(path, path.stat().st_size)
