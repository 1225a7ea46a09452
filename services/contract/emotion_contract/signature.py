"""The names a client uses to call an exported version (TF Serving's or the gateway's own).

`serving_default`: `pixels` uint8 [batch, *INPUT_SHAPE] -> `probabilities` float32
[batch, NUM_CLASSES] in the order of `labels.EMOTIONS`.
`metadata`: `request` string [batch] -> `labels` string [batch, NUM_CLASSES] and `input_shape`
int32 [batch, 3]. It is batched like serving_default, so it also works behind Serving's request
batching and lets a gRPC client read the label names through Predict.
"""

MODEL_NAME = "emotion"
SERVING_SIGNATURE = "serving_default"
METADATA_SIGNATURE = "metadata"
INPUT_KEY = "pixels"
OUTPUT_KEY = "probabilities"
METADATA_INPUT_KEY = "request"
LABELS_KEY = "labels"
INPUT_SHAPE_KEY = "input_shape"
