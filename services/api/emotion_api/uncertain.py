"""The one rule for flagging an answer as uncertain, shared by REST, the stream and the CLI.

The served model's probabilities are calibrated (the trainer folds the calibration into the
SavedModel), so its top probability is a usable estimate of how often such an answer is right;
below the threshold (UNCERTAIN_THRESHOLD) the answer is still given, with `uncertain: true`.
"""


def is_uncertain(confidence: float, threshold: float) -> bool:
    return confidence < threshold
