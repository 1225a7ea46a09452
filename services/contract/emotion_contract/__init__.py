"""What the trainer, the gateway and the rollout tool agree on, written once.

The three services never import each other; each imports this package (standard library only,
so the lean gateway image carries it without TensorFlow). Change a rule here and every service
follows; nothing else may restate it.

Model base path and version folders (`layout`)
    `models/emotion/<N>/` is version N, a TensorFlow SavedModel. Complete = all-digit name
    holding `saved_model.pb` (`layout.is_complete`); the gateway, TF Serving and the rollout
    tool see only complete versions. The trainer (`fer_trainer.export`) assembles a version in a
    hidden `.staging-*` folder and renames it to `layout.next_version(base)`, so readers see the
    whole version or nothing. Inside a version: `assets/labels.txt` (one label a line, output
    order), `assets/model.json` (name, version, labels, input shape, val figures, calibration,
    uncertain threshold), `assets.extra/tf_serving_warmup_requests`, `emotion.tflite`
    (`emotion.int8.tflite`), `report/` (metrics.json, figures, MODEL_CARD.md).

Signatures (`signature`) and labels (`labels`)
    `serving_default`: `pixels` uint8 [batch, 48, 48, 1] (raw greyscale face crops, 0..255;
    preprocessing and calibration are inside the model) -> `probabilities` float32 [batch, 7].
    `metadata`: `request` string [batch] -> `labels` string [batch, 7], `input_shape` int32
    [batch, 3]. Label order: angry, disgust, fear, happy, sad, surprise, neutral (FER-2013's).
    The model name (Serving's ModelSpec.name) is `emotion`.

Rollout state (`rollout`)
    `<model base>/rollout.json` (or ROLLOUT_STATE_PATH):
    `{"stable": 3, "canary": 4 | null, "canary_weight": 0.1, "previous_stable": [..], "updated_at": ".."}`.
    Only the rollout tool writes it, through `rollout.write_state` (temp file + rename, see
    `atomic.write_atomic`); the gateway reads it with `rollout.read_state` whenever its mtime
    changes. A missing file means stable is what the backend serves unpinned (the newest complete
    version embedded, the highest version Serving's live models.config loads), no canary. On TF
    Serving the tool also keeps the version labels `stable` and `canary`
    (`RolloutState.serving_labels`) and the versions to keep loaded (`serving_versions`: stable,
    canary, and the one a rollback returns to) in step with the file.
"""
