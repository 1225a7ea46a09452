"""The micro-batcher under concurrency: crops share backend calls, answers reach their caller."""

from __future__ import annotations

import asyncio

import httpx

from harness.http import metric_value, scrape
from harness.images import encode, scene_png, val_faces


async def test_concurrent_requests_get_their_own_answers(gateway):
    faces = val_faces(per_class=4, offset=20)  # 28 different real faces
    payloads = [encode(face) for _, face in faces] + [scene_png(seed) for seed in (3, 7, 11, 13)]
    params = [{"detect": "false"}] * len(faces) + [{}] * 4

    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:

        async def send(data: bytes, query: dict) -> dict:
            response = await client.post("/v1/emotions", files={"image": ("i.png", data, "image/png")}, params=query)
            assert response.status_code == 200, response.text
            return response.json()

        # One at a time first: each answer computed alone is the reference.
        alone = [await send(data, query) for data, query in zip(payloads, params, strict=True)]
        before = scrape(gateway.url)
        together = await asyncio.gather(*(send(d, q) for d, q in zip(payloads, params, strict=True)))
        after = scrape(gateway.url)

    for single, batched in zip(alone, together, strict=True):
        assert batched["image"] == single["image"]
        assert len(batched["faces"]) == len(single["faces"])
        for a, b in zip(single["faces"], batched["faces"], strict=True):
            assert a["box"] == b["box"] and a["emotion"] == b["emotion"]
            for label, p in a["scores"].items():
                assert abs(p - b["scores"][label]) < 1e-4

    crops = sum(len(r["faces"]) for r in together)
    calls = metric_value(after, "emotion_batch_size_count") - metric_value(before, "emotion_batch_size_count")
    batched_crops = metric_value(after, "emotion_batch_size_sum") - metric_value(before, "emotion_batch_size_sum")
    assert batched_crops == crops, "every crop goes through exactly one backend call"
    assert calls < len(payloads), f"{len(payloads)} concurrent requests took {calls:.0f} backend calls"


async def test_batcher_waits_longer_only_for_callers_still_detecting(tmp_path):
    """A crop that arrives while another request is detecting waits for it (one backend call);
    with nobody detecting, a lone crop leaves after the short max_wait."""
    import time

    import numpy as np

    from emotion_api.batcher import Batcher
    from emotion_api.rollout_state import Target

    backend = await started_backend(tmp_path)
    batcher = Batcher(backend, max_batch_size=32, max_wait_ms=5, queue_size=64, max_wait_detecting_ms=2000)
    batcher.start()
    faces = np.stack([face for _, face in val_faces(per_class=1)])[..., None]
    try:
        await batcher.predict(faces[:1], Target())  # load the model outside the timings
        before = scrape_batches()

        started = time.monotonic()
        await batcher.predict(faces[:1], Target())
        assert time.monotonic() - started < 1.0, "a lone crop must not wait for the detecting window"

        async def slow_detector_then_predict():
            with batcher.detecting():
                await asyncio.sleep(0.3)  # stands in for face detection in progress
            return await batcher.predict(faces[1:3], Target())

        first, second = await asyncio.gather(batcher.predict(faces[:1], Target()), slow_detector_then_predict())
        assert first.probabilities.shape == (1, 7) and second.probabilities.shape == (2, 7)
        after = scrape_batches()
        assert after[0] - before[0] == 2, "one call for the lone crop, one for the two callers together"
        assert after[1] - before[1] == 4
    finally:
        await batcher.close()
        await backend.close()


async def started_backend(tmp_path):
    """The embedded backend on the shipped models, started; the caller closes it."""
    from pathlib import Path

    from emotion_api.backends.embedded import EmbeddedBackend
    from emotion_api.rollout_state import RolloutWatcher

    models = Path(__file__).resolve().parents[2] / "models" / "emotion"
    backend = EmbeddedBackend(models, model_name="emotion", rollout=RolloutWatcher(tmp_path / "rollout.json"),
                              poll_s=3600)
    await backend.start()
    return backend


def scrape_batches() -> tuple[float, float]:
    from prometheus_client import REGISTRY

    return (REGISTRY.get_sample_value("emotion_batch_size_count") or 0.0,
            REGISTRY.get_sample_value("emotion_batch_size_sum") or 0.0)


async def test_an_upload_counts_as_on_its_way_while_it_is_decoded(tmp_path, monkeypatch):
    """Decoding is before detection: the batcher waits for an image being decoded as for one
    being detected, so MAX_WAIT_MS only covers callers it cannot see (still uploading)."""
    from pathlib import Path

    from emotion_api import pipeline as pipeline_module
    from emotion_api.core.config import Settings
    from emotion_api.runtime import Runtime

    models = Path(__file__).resolve().parents[2] / "models" / "emotion"
    runtime = Runtime(Settings(model_base_path=models, rollout_state_path=tmp_path / "rollout.json",
                               detect_in="threads", detect_workers=1, log_level="warning"))
    await runtime.start()
    seen: list[int] = []
    real_decode = pipeline_module.decode_image

    def watched_decode(data, **kwargs):
        seen.append(runtime.pipeline.batcher._detecting)
        return real_decode(data, **kwargs)

    monkeypatch.setattr(pipeline_module, "decode_image", watched_decode)
    try:
        while not await runtime.backend.ready():
            await asyncio.sleep(0.1)
        result = await runtime.pipeline.analyze_upload(scene_png(3), max_pixels=runtime.settings.max_image_pixels)
    finally:
        await runtime.stop()
    assert seen == [1] and result.faces
    assert runtime.pipeline.batcher._detecting == 0


async def test_flip_tta_answers_the_mean_of_each_face_and_its_mirror(tmp_path):
    """FLIP_TTA: the batcher sends each crop and its mirror image in the same backend call and
    answers their mean; a call then holds half of max_batch_size crops."""
    import numpy as np

    from emotion_api.batcher import Batcher
    from emotion_api.rollout_state import Target

    backend = await started_backend(tmp_path)
    batcher = Batcher(backend, max_batch_size=4, max_wait_ms=0, queue_size=64, flip_tta=True)
    batcher.start()
    faces = np.stack([face for _, face in val_faces(per_class=1)])[..., None]  # 7 real faces, one per class
    try:
        plain = (await backend.predict(faces, Target())).probabilities
        mirrored = (await backend.predict(np.ascontiguousarray(faces[:, :, ::-1]), Target())).probabilities
        before = scrape_batches()
        answer = await batcher.predict(faces, Target())
        after = scrape_batches()
    finally:
        await batcher.close()
        await backend.close()
    assert not np.allclose(plain, mirrored, atol=1e-3), "a mirrored face is another input to the model"
    np.testing.assert_allclose(answer.probabilities, (plain + mirrored) / 2, atol=1e-5)
    assert after[0] - before[0] == 4 and after[1] - before[1] == 7  # calls of 2, 2, 2, 1 crops (4, 4, 4, 2 images)
