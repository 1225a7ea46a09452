"""The serving contract of an exported version, shared by the exporter and its tests.

`serving_default`: input `pixels` uint8 [batch, 48, 48, 1] (raw face crops, 0..255) ->
output `probabilities` float32 [batch, 7] in the label order of `labels.EMOTIONS`.
`metadata`: input `request` string [batch] -> `labels` string [batch, 7] and `input_shape`
int32 [batch, 3]. It is batched like serving_default so it also works behind Serving's
request batching, and it lets a gRPC client read the label names through Predict.
"""

MODEL_NAME = "emotion"
SERVING_SIGNATURE = "serving_default"
METADATA_SIGNATURE = "metadata"
INPUT_KEY = "pixels"
OUTPUT_KEY = "probabilities"
METADATA_INPUT_KEY = "request"
LABELS_KEY = "labels"
INPUT_SHAPE_KEY = "input_shape"
LABELS_FILE = "labels.txt"  # under assets/, one label per line
MODEL_CARD_FILE = "model.json"  # under assets/: labels, input shape, version, val metrics
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
TFLITE_FILE = "emotion.tflite"  # float16 weights, float32 arithmetic
TFLITE_INT8_FILE = "emotion.int8.tflite"  # full-integer (int8), quantisation ranges from training faces
MODEL_CARD_MD = "MODEL_CARD.md"  # under report/: the human-readable card
REPORT_DIR = "report"
