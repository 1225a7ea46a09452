"""Every Prometheus metric of the gateway, declared once, with small fixed label sets.

Labels only take values from closed sets (route templates, status codes, stage names, the
seven emotions, model versions on disk), so a client can never grow the series count.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

REQUESTS = Counter(
    "emotion_http_requests_total", "HTTP requests by route template, method and status.", ["route", "method", "status"]
)
REQUEST_LATENCY = Histogram(
    "emotion_http_request_duration_seconds", "HTTP request latency by route template.", ["route"],
    buckets=_LATENCY_BUCKETS,
)
STAGE_LATENCY = Histogram(
    "emotion_stage_duration_seconds", "Time spent per pipeline stage (decode, detect, backend).", ["stage"],
    buckets=_LATENCY_BUCKETS,
)
BATCH_SIZE = Histogram("emotion_batch_size", "Face crops per backend call.", buckets=_BATCH_BUCKETS)
QUEUE_WAIT = Histogram(
    "emotion_queue_wait_seconds", "Time a crop waited in the batch queue.", buckets=_LATENCY_BUCKETS
)
QUEUE_DEPTH = Gauge("emotion_queue_depth", "Face crops waiting in the batch queue.")
OVERLOADED = Counter(
    "emotion_overloaded_total", "Requests refused as overloaded: at admission (see below) or with the batch queue full."
)
ADMITTED_IMAGES = Gauge(
    "emotion_admitted_images", "Images admitted and not yet past face detection (decoding, waiting or detecting)."
)
ADMISSION_REFUSED = Counter(
    "emotion_admission_refused_total", "Requests refused before decoding because DETECT_QUEUE_SIZE images were in."
)
FACES_PER_IMAGE = Histogram(
    "emotion_faces_per_image", "Faces found per analysed image.", buckets=(0, 1, 2, 3, 4, 6, 8, 12, 16, 32)
)
PREDICTIONS = Counter("emotion_predictions_total", "Predicted faces by top emotion.", ["emotion"])
STREAM_SEARCHES = Counter(
    "emotion_stream_searches_total",
    "Stream frames searched for faces, by what was searched: the whole frame or the region around followed faces.",
    ["searched"],
)
RATE_LIMITED = Counter("emotion_rate_limited_total", "Requests refused by the rate limiter.")
RATE_LIMIT_DEGRADED = Gauge(
    "emotion_rate_limit_degraded", "1 while the shared quota store is unreachable and this replica counts alone.", ["policy"]
)
AUTH_FAILURES = Counter("emotion_auth_failures_total", "Requests refused for a missing or wrong API key.")
AUTH_THROTTLED = Counter(
    "emotion_auth_throttled_total", "Requests refused because their address had too many failed API-key attempts."
)
MODEL_LOAD_FAILURES = Counter(
    "emotion_model_load_failures_total", "Model version folders refused because they did not load as a model."
)
MODEL_INFO = Info("emotion_model", "The served model: name, backend, stable and canary versions.")
VERSION_REQUESTS = Counter(
    "emotion_model_version_requests_total", "Analysed images by the model version that answered and outcome.",
    ["version", "outcome"],
)
VERSION_LATENCY = Histogram(
    "emotion_model_version_latency_seconds", "Time from crops queued to scores back, by model version.",
    ["version"], buckets=_LATENCY_BUCKETS,
)


def set_model_info(*, name: str, backend: str, stable: int | None, canary: int | None, versions: tuple[int, ...]) -> None:
    MODEL_INFO.info(
        {
            "name": name,
            "backend": backend,
            "stable": str(stable or ""),
            "canary": str(canary or ""),
            "versions": ",".join(str(v) for v in versions),
        }
    )
