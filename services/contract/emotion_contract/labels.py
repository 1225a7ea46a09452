"""The label order and the input a model takes: FER-2013's seven emotions on 48x48 greyscale faces."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48
INPUT_SHAPE: tuple[int, int, int] = (IMAGE_SIZE, IMAGE_SIZE, 1)  # one example, channels last
INPUT_DTYPE = "uint8"  # raw pixels 0..255: preprocessing lives inside the model
