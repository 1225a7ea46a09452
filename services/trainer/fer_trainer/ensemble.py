"""Ensembles: one Keras model that averages the class probabilities of several trained models.

Independently trained models (other seeds, other architectures) make partly different
mistakes, so their mean probability is right more often than any one of them; checkpoints of
one run mostly make the same mistakes, which is why `average` (SWA) merges those into one set of
weights instead. The ensemble keeps the single-model contract (float pixels in, 7 logits out:
the log of the mean probability, whose softmax is that mean), so `export` writes it like any
other model and neither Serving nor the gateway knows it is several networks.

A member is a .keras file, or a SavedModel version this trainer exported earlier: its weights
are read back into a fresh model of its architecture, so a shipped version can join an ensemble
after its training run's checkpoints are gone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import keras
from emotion_contract import layout, signature as sig
from emotion_contract.labels import INPUT_SHAPE

from . import architectures

# Floor for the mean probability before the log: a class every member rules out entirely would
# otherwise give a -inf logit, and -inf minus -inf (as in a max-subtracting softmax) is NaN.
_MIN_PROBABILITY = 1e-30


class MemberError(ValueError):
    """A member that cannot join: missing, of an unknown architecture, or an ensemble itself."""


@keras.saving.register_keras_serializable(package="fer_trainer")
class MeanProbability(keras.layers.Layer):
    """Logits in, log of the members' mean softmax out."""

    def call(self, member_logits):
        probs = keras.ops.stack([keras.ops.softmax(x, axis=-1) for x in member_logits], axis=0)
        return keras.ops.log(keras.ops.maximum(keras.ops.mean(probs, axis=0), _MIN_PROBABILITY))


def from_version(folder: Path, arch: str | None = None) -> keras.Model:
    """A Keras model holding the weights of an exported SavedModel version.

    The architecture comes from the version's model card, or `arch` for versions exported
    before the card recorded it. Variables are matched by layer kind, rank and weight name, so
    the wrong architecture fails loudly instead of loading shuffled weights.
    """
    import tensorflow as tf

    card_path = layout.model_card_path(folder)
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    arch = card.get("arch") or arch
    if not arch:
        raise MemberError(f"{folder}: the model card names no architecture; pass one")
    if card.get("members"):
        raise MemberError(f"{folder} is an ensemble; give its members instead")
    try:
        model = architectures.build(arch)
    except ValueError as err:
        raise MemberError(f"{folder}: {err}") from None
    loaded = tf.saved_model.load(str(folder))  # held: the signature only references its variables
    saved = _by_canonical_name({v.name.split(":")[0]: v.numpy()
                                for v in loaded.signatures[sig.SERVING_SIGNATURE].variables})
    fresh = _by_canonical_name({w.path: w for w in model.weights})
    if set(fresh) != set(saved) or any(fresh[k].shape != saved[k].shape for k in fresh):
        raise MemberError(f"{folder} does not hold a {arch!r} model "
                          f"({len(saved)} variables, {arch} has {len(fresh)})")
    for name, weight in fresh.items():
        weight.assign(saved[name])
    return model


def _layer_instances(triples) -> list[tuple[str, dict]]:
    """(layer, variable, value) in model order -> [(layer, {variable: value})], one entry per layer
    instance even when two members reuse a layer name (both ensemble members have `logits`)."""
    out: list[tuple[str, dict]] = []
    for layer, var, value in triples:
        if not out or out[-1][0] != layer or var in out[-1][1]:
            out.append((layer, {}))
        out[-1][1][var] = value
    return out


def ensemble_from_version(folder: Path) -> keras.Model:
    """An exported ensemble read back into a Keras ensemble of its members' architectures.

    Members' layers share names, so variables are matched layer instance by layer instance in
    model order (the SavedModel lists them in the order Keras created them), each instance's kind
    and variable names checked; a mismatch fails loudly.
    """
    import tensorflow as tf

    card = json.loads(layout.model_card_path(folder).read_text())
    if not card.get("members"):
        raise MemberError(f"{folder} is not an ensemble")
    model = build_ensemble([architectures.build(arch) for arch in card["members"]])
    loaded = tf.saved_model.load(str(folder))

    def split(name: str) -> tuple[str, str]:
        layer, _, var = name.split(":")[0].rpartition("/")
        return layer, var

    saved = _layer_instances([(*split(v.name), v) for v in loaded.signatures[sig.SERVING_SIGNATURE].variables])
    fresh = _layer_instances([(*split(w.path), w) for w in model.weights])

    def kind(layer: str) -> str:
        return re.fullmatch(r"(.*?)(?:_\d+)?", layer).group(1)

    if len(saved) != len(fresh) or any(kind(s) != kind(f) or set(sv) != set(fv)
                                       for (s, sv), (f, fv) in zip(saved, fresh)):
        raise MemberError(f"{folder} does not hold an ensemble of {' + '.join(card['members'])}")
    for (_, sv), (_, fv) in zip(saved, fresh):
        for name, weight in fv.items():
            weight.assign(sv[name].numpy())
    return model


def _by_canonical_name(named: dict) -> dict:
    """Keys `conv2d_7/kernel` renamed to `conv2d#2/kernel`: the layer's rank among its kind.

    Keras numbers auto-named layers per process (conv2d, conv2d_1, ...), so the same
    architecture built later in a process gets other numbers than the saved ones; the rank of
    each number among layers of the same kind is the same in both.
    """
    layers_of_kind: dict[str, set[int]] = {}
    split = {}
    for key in named:
        layer, _, var = key.rpartition("/")
        match = re.fullmatch(r"(.*?)(?:_(\d+))?", layer)
        kind, number = match.group(1), int(match.group(2) or 0)
        layers_of_kind.setdefault(kind, set()).add(number)
        split[key] = (kind, number, var)
    ranks = {kind: {n: i for i, n in enumerate(sorted(numbers))} for kind, numbers in layers_of_kind.items()}
    return {f"{kind}#{ranks[kind][number]}/{var}": named[key] for key, (kind, number, var) in split.items()}


def load_member(spec: str) -> keras.Model:
    """`path.keras`, `VERSION_FOLDER`, or `ARCH:VERSION_FOLDER` for a version without an arch in its card."""
    arch, path = "", Path(spec)
    if not path.exists() and ":" in spec:
        arch, _, rest = spec.partition(":")
        path = Path(rest)
    if path.is_dir():
        return from_version(path, arch or None)
    if path.is_file():
        return keras.models.load_model(path, compile=False)
    raise MemberError(f"no such model: {path}")


def build_ensemble(members: Sequence[keras.Model]) -> keras.Model:
    if len(members) < 2:
        raise MemberError("an ensemble needs at least two members")
    inputs = keras.Input(INPUT_SHAPE, name="pixels")
    # Each member is re-wrapped under its own name (members of one architecture share layer
    # names, which must not collide inside the ensemble's saved config); the name keeps the
    # architecture so that the exported model card can list the members.
    logits = [keras.Model(m.inputs, m.output, name=f"member_{i}_{m.name}")(inputs) for i, m in enumerate(members)]
    return keras.Model(inputs, MeanProbability(name="mean_probability")(logits), name="ensemble")


def describe(model: keras.Model) -> dict:
    """The model card's `arch` (and `members`, for an ensemble) of a model built here."""
    if model.name.startswith("calibrated_"):  # calibrate.with_calibration's wrapper: describe what it wraps
        model = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    subs = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    if model.name != "ensemble" or not subs:
        return {"arch": model.name.replace("_", "-")}
    return {"arch": "ensemble", "members": [name.split("_", 2)[2].replace("_", "-") for name in subs]}


def ensemble_to_file(specs: Sequence[str], out: Path) -> keras.Model:
    from .train import save_atomically

    model = build_ensemble([load_member(spec) for spec in specs])
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(model, out)
    return model

