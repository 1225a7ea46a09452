"""Model rollout: evaluate a candidate, canary it, promote it, roll back.

One set of operations over two backends: the embedded gateway (reads the rollout state file) and
TensorFlow Serving (models.config labels + ModelService reloads, then the same state file).
"""
