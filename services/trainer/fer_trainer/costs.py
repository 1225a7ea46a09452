"""Inference cost of a Keras model: multiply-adds per face and parameters, counted from its layers.

Only convolutions and dense layers are counted; BatchNorm, activations and pooling add well under
1 % on these networks. Nested models (ensemble members) are walked, so an ensemble costs the sum
of its members.
"""

from __future__ import annotations

import math

import keras


def _layer_macs(layer) -> int:
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        _, h, w, c_out = layer.output.shape
        c_in = layer.input.shape[-1]
        return int(h * w * kh * kw * c_in * c_out)
    if isinstance(layer, keras.layers.Dense):
        return int(math.prod(layer.kernel.shape))
    return 0


def multiply_adds(model: keras.Model) -> int:
    total = 0
    for layer in model.layers:
        total += multiply_adds(layer) if isinstance(layer, keras.Model) else _layer_macs(layer)
    return total


def describe_cost(model: keras.Model) -> dict:
    return {"multiply_adds_per_face": multiply_adds(model), "parameters": int(model.count_params())}
