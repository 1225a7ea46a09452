"""face-api.js's expression network as a peer on real photos, rebuilt in Keras from its own weights.

face-api.js (npm `@vladmandic/face-api`, MIT; the maintained fork of justadudewhohacks/face-api.js)
ships a 7-class expression classifier (`FaceExpressionNet`: four dense blocks of depthwise-separable
convolutions on 112x112 RGB crops, 0.3 MB of uint8-quantized weights) trained, per its README, on
public datasets and images from the web, not on FER-2013 alone. Its weights come from the npm
tarball (`make bench-real` fetches and checks it into build/face-api/); the network is rebuilt
here from the package's own TypeScript (src/faceFeatureExtractor/denseBlock.ts,
FaceFeatureExtractor.ts, faceProcessor/FaceProcessor.ts), which tfjs is not needed to run.

It is fed as its own pipeline feeds it: the face box cut from the colour photo, padded to a square
(centred) and resized to 112 px. The boxes are this gateway's default detector's, so the comparison
is about the classifiers; `crops="gray48"` feeds it this gateway's own 48x48 aligned gray crops
instead, to separate what its training gives from what colour and resolution give.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "build" / "face-api" / "package"
MODEL = PACKAGE / "model"
INPUT = 112
MEAN_RGB = np.array([122.782, 117.001, 104.298], np.float32)  # FaceFeatureExtractor.forwardInput
LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")  # FACE_EXPRESSION_LABELS
FER_NAMES = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry", "fearful": "fear",
             "disgusted": "disgust", "surprised": "surprise"}


def available() -> bool:
    return (MODEL / "face_expression_model-weights_manifest.json").is_file()


def version() -> str:
    return json.loads((PACKAGE / "package.json").read_text())["version"]


def read_weights() -> dict[str, np.ndarray]:
    """The manifest's tensors, de-quantized (uint8 * scale + min) as tfjs's loader does."""
    out: dict[str, np.ndarray] = {}
    for group in json.loads((MODEL / "face_expression_model-weights_manifest.json").read_text()):
        data = b"".join((MODEL / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            n = int(np.prod(spec["shape"]))
            quant = spec.get("quantization")
            if quant:
                value = np.frombuffer(data, np.uint8, n, offset).astype(np.float32) * quant["scale"] + quant["min"]
                offset += n
            else:
                value = np.frombuffer(data, np.float32, n, offset).copy()
                offset += 4 * n
            out[spec["name"]] = value.reshape(spec["shape"])
        if offset != len(data):
            raise ValueError(f"the manifest describes {offset} bytes, the weight file has {len(data)}")
    return out


def build():
    """FaceExpressionNet as a Keras model: RGB 0..255 [batch, 112, 112, 3] in, softmax over LABELS out."""
    import keras
    from keras import layers

    weights = read_weights()
    inputs = keras.Input((INPUT, INPUT, 3))
    x = layers.Rescaling(1 / 255.0, offset=-MEAN_RGB / 255.0)(inputs)
    assigned = []
    for index, channels in enumerate((32, 64, 128, 256)):
        name = f"dense{index}"
        # denseBlock4(isFirstLayer=index == 0): conv0 scales down, conv1-3 add densely.
        if index == 0:
            conv0 = layers.Conv2D(channels, 3, strides=2, padding="same")
            assigned.append((conv0, [weights[f"{name}/conv0/filters"], weights[f"{name}/conv0/bias"]]))
        else:
            conv0 = layers.SeparableConv2D(channels, 3, strides=2, padding="same")
            assigned.append((conv0, [weights[f"{name}/conv0/{k}"] for k in ("depthwise_filter", "pointwise_filter", "bias")]))
        convs = []
        for k in (1, 2, 3):
            conv = layers.SeparableConv2D(channels, 3, padding="same")
            assigned.append((conv, [weights[f"{name}/conv{k}/{p}"] for p in ("depthwise_filter", "pointwise_filter", "bias")]))
            convs.append(conv)
        out1 = layers.ReLU()(conv0(x))
        out2 = convs[0](out1)
        out3 = convs[1](layers.ReLU()(layers.Add()([out1, out2])))
        out4 = convs[2](layers.ReLU()(layers.Add()([out1, out2, out3])))
        x = layers.ReLU()(layers.Add()([out1, out2, out3, out4]))
    x = layers.Flatten()(layers.AveragePooling2D(7, 2, padding="valid")(x))
    dense = layers.Dense(len(LABELS))
    assigned.append((dense, [weights["fc/weights"], weights["fc/bias"]]))
    model = keras.Model(inputs, layers.Softmax()(dense(x)), name="face_api_expressions")
    for layer, values in assigned:
        layer.set_weights(values)
    return model


def to_input(rgb: np.ndarray) -> np.ndarray:
    """NetInput.toBatchTensor(112, isCenterInputs=true): pad to a centred square with zeros, resize."""
    height, width = rgb.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = rgb
    return cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_LINEAR)


def photo_faces(paths: list[Path], crops: str = "colour") -> list[list[dict]]:
    """Per photo, every face the default detector finds, with face-api's emotion for it (FER names)."""
    import sys

    sys.path[:0] = [str(REPO / "services" / s) for s in ("contract", "api")]
    from emotion_api.faces.worker import detect_and_crop

    model = build()
    out = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        boxes, aligned, _ = detect_and_crop("default", gray, 48, "landmarks")
        batch = []
        for box, crop in zip(boxes, aligned):
            if crops == "gray48":
                batch.append(cv2.cvtColor(cv2.resize(crop, (INPUT, INPUT)), cv2.COLOR_GRAY2RGB))
            else:
                x0, y0 = max(0, box.x), max(0, box.y)
                x1, y1 = min(bgr.shape[1], box.x + box.width), min(bgr.shape[0], box.y + box.height)
                batch.append(to_input(cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2RGB)))
        probs = model.predict(np.asarray(batch, np.float32), verbose=0) if batch else np.zeros((0, len(LABELS)))
        out.append([{"width": b.width, "height": b.height, "emotion": FER_NAMES[LABELS[int(p.argmax())]]}
                    for b, p in zip(boxes, probs)])
    return out


def val_accuracy(fer_dir: Path) -> tuple[float, int]:
    """Accuracy on FER-2013 val (PublicTest): each 48x48 gray face as RGB, resized to 112 px."""
    names = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    paths = [(p, name) for name in names for p in sorted((fer_dir / "val" / name).glob("*.jpg"))]
    batch = np.asarray([cv2.cvtColor(cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (INPUT, INPUT)),
                                     cv2.COLOR_GRAY2RGB) for p, _ in paths], np.float32)
    probs = build().predict(batch, verbose=0, batch_size=128)
    said = [FER_NAMES[LABELS[int(i)]] for i in probs.argmax(1)]
    return float(np.mean([s == name for s, (_, name) in zip(said, paths)])), len(paths)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="face-api.js's expression network on FER-2013 val")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "fer2013")
    accuracy, count = val_accuracy(parser.parse_args().data)
    print(f"face-api.js {version()} expressions on FER-2013 val: accuracy {accuracy:.3f} ({count} faces)")
