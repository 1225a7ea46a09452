"""MTCNN's P/R/O-Net with the `mtcnn` wheel's weights, rebuilt as ONNX graphs run by OpenCV DNN.

Why not the wheel's Keras models: the networks are tiny (10-128 channels) and TensorFlow's
per-call and per-op overhead dominated them; with OpenCV DNN, ``mtcnn-48`` went from 32 to 14 ms
of CPU per 640x480 image (`make bench-detect`), and detection was the gateway's bottleneck.
The graphs are built in memory at start-up from the Keras layers' weights, so no converted
model file has to be kept in step with the pinned mtcnn version; ``tests/faces`` checks that
the outputs match the Keras models.

The gateway feeds grey images, whose three channels are equal, so each network's first
convolution has its input-channel weights summed: one input channel, a third of the work,
the same result.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

_lock = threading.Lock()
_graphs: dict[str, bytes] | None = None


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
    return Net(_graph("pnet"), ["reg", "prob"])


def rnet() -> Net:
    return Net(_graph("rnet"), ["reg", "prob"])


def onet() -> Net:
    return Net(_graph("onet"), ["reg", "landmarks", "prob"])


def built_graphs() -> dict[str, bytes] | None:
    """The graphs if this process has built them, for handing to detection worker processes."""
    with _lock:
        return dict(_graphs) if _graphs is not None else None


def install_graphs(graphs: dict[str, bytes]) -> None:
    """Use graphs built elsewhere: a worker process then never imports mtcnn (and TensorFlow)."""
    global _graphs
    with _lock:
        _graphs = dict(graphs)


def _graph(name: str) -> bytes:
    global _graphs
    with _lock:
        if _graphs is None:
            _graphs = _build_all()
        return _graphs[name]


def _build_all() -> dict[str, bytes]:
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
