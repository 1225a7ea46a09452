"""Model rollout: evaluate a candidate, canary it, promote it, roll back.

One set of operations (operations.py) over two serving backends, each put into effect by its
rollout applier: the embedded gateway (appliers.py: the rollout state file, which it reads) and
TensorFlow Serving (serving_applier.py: models.config labels + ModelService reloads, then the same
state file).
"""
