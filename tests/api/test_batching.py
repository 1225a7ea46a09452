"""The micro-batcher under concurrency: crops share backend calls, answers reach their caller."""

from __future__ import annotations

import asyncio

import httpx

from tests.utils.http import metric_value, scrape
from tests.utils.images import encode, scene_png, val_faces


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
