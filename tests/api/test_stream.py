"""WS /v1/emotions/stream over a real socket: tracking, errors, auth, quotas, frame rate, metrics."""

from __future__ import annotations

import base64
import json
import time

import cv2
import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from emotion_contract.labels import EMOTIONS
from harness.http import metric_value
from harness.media import jittered_clip, portrait
from tests.conftest import KEYED_MAX_FPS, KEYS, RATE_LIMIT

pytestmark = pytest.mark.slow
STREAM = "/v1/emotions/stream"


def ws_url(gateway, query: str = "") -> str:
    return gateway.url.replace("http://", "ws://") + STREAM + query


def jpeg(frame: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return data.tobytes()


def blank_png() -> bytes:
    ok, data = cv2.imencode(".png", np.full((64, 64), 127, np.uint8))
    assert ok
    return data.tobytes()


def receive(socket) -> dict:
    return json.loads(socket.recv(timeout=30))


def stream_count(gateway, status: str) -> float:
    text = httpx.get(gateway.url + "/metrics").text
    return metric_value(text, "emotion_http_requests_total", {"route": STREAM, "method": "WS", "status": status})


def test_frames_get_tracked_smoothed_results_in_the_rest_shape(gateway):
    frames = [jpeg(f) for f in jittered_clip(portrait(480, 360), 6, shift=10)]
    before_ok, before_bad = stream_count(gateway, "200"), stream_count(gateway, "400")
    with connect(ws_url(gateway)) as socket:
        ready = receive(socket)
        assert ready["ready"] is True and ready["max_fps"] > 0 and 0 <= ready["smoothing"] < 1
        assert 0 <= ready["uncertain_threshold"] <= 1

        def exchange(message: bytes | str) -> dict:
            time.sleep(1 / ready["max_fps"])  # a well-behaved client: frames above the cap are skipped
            socket.send(message)
            return receive(socket)

        replies = [exchange(data) for data in frames]
        # A base64 JSON frame is the same frame to the server.
        replies.append(exchange(json.dumps({"image": base64.b64encode(frames[-1]).decode()})))
        # A broken frame is refused on its own; the stream goes on.
        broken = exchange(b"not an image")
        after_broken = exchange(frames[0])

    assert [r["frame"] for r in replies] == list(range(len(frames) + 1))
    rest = httpx.post(gateway.url + "/v1/emotions", files={"image": ("f.jpg", frames[0], "image/jpeg")}).json()
    for reply in replies:
        assert set(reply) == set(rest) | {"frame"}
        assert reply["model"] == rest["model"] and reply["image"] == {"width": 480, "height": 360}
        assert len(reply["faces"]) == 1
        face = reply["faces"][0]
        assert set(face) == set(rest["faces"][0]) | {"track_id"}
        assert list(face["scores"]) == list(EMOTIONS)
        assert face["emotion"] == max(face["scores"], key=face["scores"].get)
        assert sum(face["scores"].values()) == pytest.approx(1.0, abs=1e-4)
    assert {r["faces"][0]["track_id"] for r in replies} == {1}
    # The first frame of a track has nothing to smooth with: it equals the REST answer.
    assert replies[0]["faces"][0]["scores"] == pytest.approx(rest["faces"][0]["scores"], abs=1e-5)
    assert broken == {"frame": len(frames) + 1, "error": broken["error"]}
    assert broken["error"]["code"] == "invalid_image"
    assert after_broken["frame"] == len(frames) + 2 and after_broken["faces"][0]["track_id"] == 1
    assert stream_count(gateway, "200") - before_ok == len(frames) + 2
    assert stream_count(gateway, "400") - before_bad == 1


def searches(gateway, searched: str) -> float:
    text = httpx.get(gateway.url + "/metrics").text
    return metric_value(text, "emotion_stream_searches_total", {"searched": searched})


def iou(a: dict, b: dict) -> float:
    ix = max(0, min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]))
    iy = max(0, min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]))
    return ix * iy / (a["width"] * a["height"] + b["width"] * b["height"] - ix * iy)


def test_between_whole_frame_searches_the_stream_searches_around_its_faces(gateway):
    frames = [jpeg(f) for f in jittered_clip(portrait(480, 360), 10, seed=3, shift=6)]
    before = {kind: searches(gateway, kind) for kind in ("frame", "region")}
    with connect(ws_url(gateway)) as socket:
        max_fps = receive(socket)["max_fps"]
        replies = []
        for data in frames:
            time.sleep(1 / max_fps)
            socket.send(data)
            replies.append(receive(socket))
    whole = searches(gateway, "frame") - before["frame"]
    region = searches(gateway, "region") - before["region"]
    # STREAM_FULL_DETECT_EVERY=5 (the default): frames 0 and 5 whole, the others around the face
    # (or whole after a frame whose region lost the face).
    assert whole + region == len(frames) and whole >= 2 and region >= 6
    assert all(len(r["faces"]) == 1 and r["faces"][0]["track_id"] == 1 for r in replies)
    for index in (1, 4, 9):  # searched in a region: the same face as a whole-frame search finds
        rest = httpx.post(gateway.url + "/v1/emotions", files={"image": ("f.jpg", frames[index], "image/jpeg")}).json()
        assert iou(replies[index]["faces"][0]["box"], rest["faces"][0]["box"]) >= 0.7


def test_text_messages_that_are_not_frames_are_refused(gateway):
    with connect(ws_url(gateway)) as socket:
        receive(socket)
        socket.send("{not json")
        assert receive(socket)["error"]["code"] == "invalid_request"
        socket.send(json.dumps({"image": "***"}))
        assert receive(socket)["error"]["code"] == "invalid_image"
        socket.send(json.dumps({"hello": True}))  # a control message gets no reply
        socket.send(blank_png())
        reply = receive(socket)
        assert reply["frame"] == 2 and reply["faces"] == []


@pytest.mark.parametrize("how", ["first_message", "query", "header"])
def test_a_valid_key_opens_the_stream(keyed_gateway, how):
    key = KEYS["stream"]
    query = f"?api_key={key}" if how == "query" else ""
    headers = {"X-API-Key": key} if how == "header" else None
    with connect(ws_url(keyed_gateway, query), additional_headers=headers) as socket:
        if how == "first_message":
            socket.send(json.dumps({"api_key": key}))
        assert receive(socket)["ready"] is True


@pytest.mark.parametrize("first", [b"frame bytes", json.dumps({"api_key": "wrong-key-123"})])
def test_a_missing_or_wrong_key_closes_the_stream(keyed_gateway, first):
    with connect(ws_url(keyed_gateway)) as socket:
        socket.send(first)
        reply = receive(socket)
        assert reply["error"]["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd.code == 1008


def test_each_frame_counts_against_the_rate_limit(keyed_gateway):
    quota = int(RATE_LIMIT.split("/")[0])
    with connect(ws_url(keyed_gateway, f"?api_key={KEYS['limit']}")) as socket:
        receive(socket)
        codes = []
        for _ in range(quota + 2):
            socket.send(blank_png())
            reply = receive(socket)
            codes.append(reply.get("error", {}).get("code", "ok"))
            time.sleep(1.1 / KEYED_MAX_FPS)  # stay under the frame-rate cap: this test is about the quota
    assert codes == ["ok"] * quota + ["rate_limited"] * 2
    assert reply["error"]["retry_after"] >= 1


def test_frames_above_the_rate_cap_are_skipped_without_using_quota(keyed_gateway):
    with connect(ws_url(keyed_gateway, f"?api_key={KEYS['fps']}")) as socket:
        assert receive(socket)["max_fps"] == KEYED_MAX_FPS
        for _ in range(5):  # all at once, faster than the cap
            socket.send(blank_png())
        replies = [receive(socket) for _ in range(5)]
    codes = [r.get("error", {}).get("code", "ok") for r in replies]
    assert codes[:2] == ["ok", "ok"]  # the burst allowance
    assert "frame_rate_exceeded" in codes[2:]
    assert "rate_limited" not in codes


def test_hostile_streams_leave_other_streams_and_the_server_unharmed(gateway):
    """Malformed, oversize and too-fast frames, and a client that vanishes mid-frame, on their own
    connections while a well-behaved stream runs: each bad frame gets a documented error (or the
    connection ends), the good stream's answers stay correct, and the server stays up."""
    import os
    import socket as socketlib
    import struct

    frames = [jpeg(f) for f in jittered_clip(portrait(480, 360), 3, shift=6)]
    before_5xx = stream_count(gateway, "500")
    with connect(ws_url(gateway)) as good:
        ready = receive(good)
        interval = 1 / ready["max_fps"]

        def good_frame(i: int) -> dict:
            time.sleep(interval)
            good.send(frames[i % len(frames)])
            return receive(good)

        assert good_frame(0)["faces"]
        with connect(ws_url(gateway), max_size=None) as bad:
            receive(bad)
            hostile = [
                "[" * 100_000 + "]" * 100_000,  # pathologically nested JSON
                "not json at all",
                json.dumps({"image": "!!not base64!!"}),
                json.dumps({"image": 42}),
                b"\x00\xff" * 1000,  # bytes that are no image
                b"\xff" * (10 * 1024 * 1024 + 1),  # over MAX_UPLOAD_BYTES
            ]
            codes = []
            for message in hostile:
                time.sleep(interval)
                bad.send(message)
                codes.append(receive(bad)["error"]["code"])
            assert set(codes) <= {"invalid_request", "invalid_image", "payload_too_large"}, codes
            assert codes[-1] == "payload_too_large"
            # Flat out, faster than the cap (small frames, so handling them cannot pace the client):
            # refused unanalysed, each still answered, in order.
            for _ in range(20):
                bad.send(b"tiny")
            replies = [receive(bad) for _ in range(20)]
            assert {r["error"]["code"] for r in replies} <= {"frame_rate_exceeded", "invalid_image"}
            assert any(r["error"]["code"] == "frame_rate_exceeded" for r in replies)
            assert [r["frame"] for r in replies] == sorted(r["frame"] for r in replies)
        assert good_frame(1)["faces"]

        # A client that sends half a frame and disappears (no close frame, no rest of the payload).
        raw = socketlib.create_connection(("127.0.0.1", gateway.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall((f"GET /v1/emotions/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        assert b"101" in raw.recv(4096).split(b"\r\n", 1)[0]
        # A masked binary frame announcing 100,000 bytes, of which 10 arrive.
        raw.sendall(bytes([0x82, 0xFF]) + struct.pack("!Q", 100_000) + os.urandom(4) + b"0123456789")
        raw.close()
        for i in range(2, 5):
            reply = good_frame(i)
            assert reply["faces"] and reply["frame"] == i
    assert httpx.get(gateway.url + "/healthz", timeout=10).status_code == 200
    assert stream_count(gateway, "500") == before_5xx
