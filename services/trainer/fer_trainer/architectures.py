"""Model definitions, one small function per architecture, selectable by name.

Each architecture is `make(input_shape, num_classes, equalize) -> keras.Model`, keras-io style: the
model takes float pixels 0..255 of `input_shape` and returns `num_classes` logits; with `equalize`
it equalizes each image's histogram first (built as `NAME-eq`). `build(name)` gives
it the contract's FER-2013 shape and classes (`emotion_contract.labels`) unless told otherwise.
Rescaling lives inside the model so that the exported SavedModel needs no client-side
preprocessing.
"""

from __future__ import annotations

from typing import Callable

import keras
from emotion_contract.labels import INPUT_SHAPE, NUM_CLASSES
from keras import layers

from .equalize import HistogramEqualization

Shape = tuple[int, ...]
ARCHITECTURES: dict[str, Callable[[Shape, int, bool], keras.Model]] = {}
EQUALIZED_SUFFIX = "-eq"


def register(name: str):
    def wrap(fn):
        ARCHITECTURES[name] = fn
        return fn
    return wrap


def build(name: str, input_shape: Shape = INPUT_SHAPE, num_classes: int = NUM_CLASSES) -> keras.Model:
    """The architecture `name`; `NAME-eq` is NAME behind histogram equalization (equalize.py)."""
    equalize = name.endswith(EQUALIZED_SUFFIX)
    base = name.removesuffix(EQUALIZED_SUFFIX)
    if base not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(sorted(ARCHITECTURES))}"
                         f" (each also as NAME{EQUALIZED_SUFFIX})")
    return ARCHITECTURES[base](tuple(input_shape), num_classes, equalize)


def _inputs(input_shape: Shape, equalize: bool):
    inputs = keras.Input(input_shape, name="pixels")
    x = HistogramEqualization(name="equalize")(inputs) if equalize else inputs
    return inputs, layers.Rescaling(1.0 / 255.0, name="rescale")(x)


def _name(base: str, equalize: bool) -> str:
    # The suffix makes the model card's `arch` (ensemble.describe) name the variant to rebuild.
    return base + EQUALIZED_SUFFIX.replace("-", "_") if equalize else base


def _conv_bn(x, filters, activation="relu"):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation(activation)(x) if isinstance(activation, str) else activation(x)


@register("seed-cnn")
def seed_cnn(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    inputs, x = _inputs(input_shape, equalize)
    for filters in (64, 128, 256):
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.25)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=_name("seed_cnn", equalize))


def _deep_cnn_stem(x, width=1.0):
    x = _conv_bn(x, int(32 * width))
    x = _conv_bn(x, int(64 * width))
    x = layers.MaxPooling2D()(x)
    for filters in (128, 256):
        x = _conv_bn(x, int(filters * width))
        x = layers.MaxPooling2D()(x)
    return x


def _deep_cnn_head(inputs, x, num_classes, name, units=(256, 128)):
    x = layers.Flatten()(x)
    for units in units:
        x = layers.Dense(units, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Dropout(0.25)(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=name)


@register("seed-deep-cnn")
def seed_deep_cnn(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    inputs, x = _inputs(input_shape, equalize)
    return _deep_cnn_head(inputs, _deep_cnn_stem(x), num_classes, _name("seed_deep_cnn", equalize))


def _squeeze_excite(x, ratio=16):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Dense(max(channels // ratio, 4), activation="relu")(s)
    s = layers.Dense(channels, activation="sigmoid")(s)
    return layers.Multiply()([x, s])


def _residual_se_block(x, filters, stride):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.LeakyReLU(0.1)(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = _squeeze_excite(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = layers.BatchNormalization()(shortcut)
    return layers.LeakyReLU(0.1)(layers.Add()([y, shortcut]))


@register("resnet-se")
def resnet_se(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    inputs, x = _inputs(input_shape, equalize)
    x = _conv_bn(x, 64, layers.LeakyReLU(0.1))
    for i, filters in enumerate((64, 128, 256, 512)):
        x = _residual_se_block(x, filters, stride=1 if i == 0 else 2)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.4)(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=_name("resnet_se", equalize))


@register("vgg-lite")
def vgg_lite(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    """Four VGG stages of two BN convs (32→256 filters), built for a CPU budget.

    Narrow where the pixels are (the first stage) and deep where they are few (the fourth stage
    at 6x6), so an epoch costs a fraction of seed-cnn's. Flatten keeps the spatial layout of the
    last map, which matters for faces (mouth vs eyes) more than global pooling does. Its cost and
    accuracy: docs/model-history.md (Model card, Architecture).
    """
    inputs, x = _inputs(input_shape, equalize)
    for filters, dropout in ((32, 0.1), (64, 0.2), (128, 0.25), (256, 0.3)):
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name=_name("vgg_lite", equalize))


@register("deep-cnn-context")
def deep_cnn_context(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    """seed-deep-cnn plus two 256-filter convs on its 6x6 map, before the same dense head.

    seed-deep-cnn's convs see only part of the face before Flatten, so brow, eyes and mouth
    meet only in the dense layers; two 3x3 convs on the last map widen the receptive field to
    the whole face. What that costs and gains: docs/model-history.md ("A default that beats the
    seeds").
    """
    return _deep_cnn_context(input_shape, num_classes, 1.0, "deep_cnn_context", equalize)


def _deep_cnn_context(input_shape: Shape, num_classes: int, width: float, name: str,
                      equalize: bool) -> keras.Model:
    inputs, x = _inputs(input_shape, equalize)
    x = _deep_cnn_stem(x, width)
    x = _conv_bn(x, int(256 * width))
    x = _conv_bn(x, int(256 * width))
    return _deep_cnn_head(inputs, x, num_classes, _name(name, equalize))


@register("deep-cnn-context-s")
def deep_cnn_context_s(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    """deep-cnn-context at three quarters of its width: a distillation student.

    Multiply-adds scale with the square of the width (every conv but the first has both its
    inputs and outputs narrowed), so 0.75 keeps a little over half of them.
    """
    return _deep_cnn_context(input_shape, num_classes, 0.75, "deep_cnn_context_s", equalize)


@register("deep-cnn-context-xs")
def deep_cnn_context_xs(input_shape: Shape, num_classes: int, equalize: bool = False) -> keras.Model:
    """deep-cnn-context at half its width (a quarter of its multiply-adds): the small end of the
    accuracy-cost frontier."""
    return _deep_cnn_context(input_shape, num_classes, 0.5, "deep_cnn_context_xs", equalize)


# The default is the architecture with the best val accuracy under the default recipe on this
# machine's budget; the comparison (every seed architecture, equal wall-clock) is in
# docs/model-history.md and docs/model-history/v7/default-vs-seeds.md. Re-run it before changing.
DEFAULT_ARCH = "deep-cnn-context"
