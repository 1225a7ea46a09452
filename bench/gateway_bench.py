"""Gateway benchmark: latency, throughput and batching of POST /v1/emotions, against `fer`.

Starts the gateway (embedded backend, default settings) on a free loopback port and sends a
fixed set of 640x480 scenes with 1-3 real FER-2013 val faces (harness/scenes.py). Prints
latency p50/p99 at concurrency 1, throughput at concurrency 1/8/32, the mean batch size per
level (from /metrics) with the CPU each request cost the gateway and the load generator, the
gateway's RSS, and then `fer`'s detect_emotions on the same images (run in build/fer-venv,
because fer's pins conflict with the project's .venv): its quality, and its sequential throughput
in rounds that alternate with the gateway's at concurrency 32, with the ratio per round.

Recall and end-to-end accuracy are measured on the timed scenes and, untimed, on 1000 more
(``--quality-scenes``): the timed scenes' ~54 faces move a figure by 2 points per face.

Usage: python bench/gateway_bench.py [--scenes 24] [--seconds 8] [--latency-requests 60] [--rounds 3] [--quality-scenes 1000]
       [--quality-only] [--set NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "services" / "contract"), str(REPO / "services" / "api")]

from harness.http import metric_value  # noqa: E402
from harness.images import encode  # noqa: E402
from harness.scenes import make_scenes  # noqa: E402
from harness.servers import Gateway, process_tree, rss_mib  # noqa: E402

from bench.detection_bench import match  # noqa: E402
from emotion_api.core.config import usable_cpus  # noqa: E402
from emotion_api.faces import Box  # noqa: E402

FER_VENV = REPO / "build" / "fer-venv"
# Runs in build/fer-venv; answers one JSON line per command read from stdin.
FER_SCRIPT = r"""
import json, sys, time
import numpy as np
from PIL import Image
try:
    from fer import FER
except ImportError:  # 25.x no longer re-exports it from the package
    from fer.fer import FER
images = [np.asarray(Image.open(p).convert("RGB")) for p in json.loads(sys.argv[1])]
detector = FER(mtcnn=False)
detector.detect_emotions(images[0])  # warm-up
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "quality":
        found = [[{"box": [int(v) for v in r["box"]], "emotion": max(r["emotions"], key=r["emotions"].get)}
                  for r in detector.detect_emotions(image)] for image in images]
        print(json.dumps({"found": found}), flush=True)
    else:  # "time": detect_emotions back to back for the given seconds
        latencies, faces, k = [], 0, 0
        started = time.perf_counter()
        while time.perf_counter() - started < command["seconds"]:
            t = time.perf_counter()
            faces += len(detector.detect_emotions(images[k % len(images)]))
            latencies.append(time.perf_counter() - t)
            k += 1
        print(json.dumps({"latencies": latencies, "faces": faces, "elapsed": time.perf_counter() - started}),
              flush=True)
"""


def quality(scenes, found: list[list[tuple[Box, str]]]) -> str:
    """Detection recall (IoU >= 0.3) and emotion accuracy against the scenes' ground truth."""
    truth = matched = correct = 0
    for scene, detections in zip(scenes, found, strict=True):
        truth += len(scene.boxes)
        for i, j, _ in match([box for box, _ in detections], scene.boxes, 0.3):
            matched += 1
            correct += detections[i][1] == scene.labels[j]
    return (f"recall {matched / truth:.3f}   emotion accuracy on found faces {correct / max(matched, 1):.3f}   "
            f"end-to-end accuracy {correct / truth:.3f} ({truth} faces)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of the gateway and its workers (all their threads)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def batch_stats(url: str) -> tuple[float, float]:
    text = httpx.get(f"{url}/metrics").text
    return metric_value(text, "emotion_batch_size_sum"), metric_value(text, "emotion_batch_size_count")


STAGES = ("decode", "detect", "backend")


def stage_seconds(url: str) -> dict[str, float]:
    """Seconds spent so far per stage (the gateway's own stage metrics) and in the batch queue."""
    text = httpx.get(f"{url}/metrics").text
    spent = {s: metric_value(text, "emotion_stage_duration_seconds_sum", {"stage": s}) for s in STAGES}
    spent["queue"] = metric_value(text, "emotion_queue_wait_seconds_sum")
    return spent


def multipart(payload: bytes) -> tuple[bytes, str]:
    """One upload as the multipart/form-data body a browser would send, built once per image."""
    boundary = "bench-boundary-7d1f0c2a"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="s.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def run_level(url: str, payloads: list[bytes], concurrency: int, seconds: float) -> dict:
    """Keeps ``concurrency`` requests in flight for ``seconds``.

    The client is aiohttp with pre-built bodies because it shares the gateway's two cores: httpx
    took 2.3-2.5 ms of CPU per request, which the gateway then did not get.
    """
    latencies: list[float] = []
    faces = errors = 0
    bodies = [multipart(p) for p in payloads]
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:

        async def worker(offset: int) -> None:
            nonlocal faces, errors
            i = offset
            while time.perf_counter() < stop_at:
                body, content_type = bodies[i % len(bodies)]
                i += concurrency
                started = time.perf_counter()
                async with client.post("/v1/emotions", data=body, headers={"Content-Type": content_type}) as response:
                    text = await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status != 200:  # overload shows as 503/504: count, do not stop
                    errors += 1
                    continue
                faces += len(json.loads(text)["faces"])

        started, client_cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    ok = len(latencies) - errors
    return {"requests": ok, "errors": errors, "rps": ok / elapsed, "faces": faces, "latencies": latencies,
            "client_cpu": client_cpu, "elapsed": elapsed}


class FerWorker:
    """`fer`'s detect_emotions in its own venv and process, driven command by command.

    It stays up for the whole benchmark so that its throughput can be measured in rounds that
    alternate with the gateway's: this shared machine's speed drifts by a third between minutes,
    and a ratio of two runs taken minutes apart measured the drift as much as the software.
    """

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process

    @classmethod
    def start(cls, images, workdir: Path) -> FerWorker | None:
        python = FER_VENV / "bin" / "python"
        if not python.exists() or subprocess.run([str(python), "-c", "import fer.fer"], capture_output=True).returncode:
            print(f"fer: NOT AVAILABLE - it is not installed in {FER_VENV} (pip install fer==25.10.3 there); "
                  "no comparison numbers")
            return None
        workdir.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, image in enumerate(images):
            path = workdir / f"scene-{i}.png"
            path.write_bytes(encode(image))
            paths.append(str(path))
        process = subprocess.Popen([str(python), "-c", FER_SCRIPT, json.dumps(paths)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        worker = cls(process)
        worker._reply()
        return worker

    def _reply(self) -> dict:
        for line in self.process.stdout:  # fer's dependencies may print; the answer is the JSON line
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"fer worker exited with {self.process.wait()}")

    def ask(self, **command) -> dict:
        self.send(**command)
        return self._reply()

    def send(self, **command) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def extra_quality(client: httpx.Client, scenes) -> str:
    found = []
    for scene in scenes:
        files = {"image": ("s.jpg", encode(scene.image, "JPEG", quality=90), "image/jpeg")}
        response = client.post("/v1/emotions", files=files)
        response.raise_for_status()
        found.append([(Box(**face["box"]), face["emotion"]) for face in response.json()["faces"]])
    return quality(scenes, found)


def quality_only(scenes, settings: dict[str, str], quality_scenes=()) -> None:
    gateway = Gateway.launch({"LOG_LEVEL": "warning", **settings})
    try:
        with httpx.Client(base_url=gateway.wait().url, timeout=60) as client:
            print(f"gateway quality: {extra_quality(client, scenes)}")
            if quality_scenes:
                print(f"gateway quality on {len(quality_scenes)} more scenes: {extra_quality(client, quality_scenes)}")
    finally:
        gateway.stop()


def bench_gateway(scenes, payloads: list[bytes], seconds: float, latency_requests: int, rounds: int,
                  fers: list[FerWorker], settings: dict[str, str], quality_scenes=()) -> None:
    gateway = Gateway.launch({"LOG_LEVEL": "warning", **settings})
    try:
        gateway.wait()
        url, pid = gateway.url, gateway.process.popen.pid
        asyncio.run(run_level(url, payloads, 4, 2.0))  # warm-up: traces, detection workers
        sequential, found = [], []
        with httpx.Client(base_url=url, timeout=60) as client:  # one keep-alive connection, like run_level
            for i in range(max(latency_requests, len(payloads))):
                started = time.perf_counter()
                files = {"image": ("s.jpg", payloads[i % len(payloads)], "image/jpeg")}
                response = client.post("/v1/emotions", files=files)
                response.raise_for_status()
                sequential.append(time.perf_counter() - started)
                if i < len(payloads):
                    found.append([(Box(**face["box"]), face["emotion"]) for face in response.json()["faces"]])
            extra = extra_quality(client, quality_scenes) if quality_scenes else None
        print(f"gateway quality: {quality(scenes, found)}")
        if extra:
            print(f"gateway quality on {len(quality_scenes)} more scenes: {extra}")
        print(f"latency @ concurrency 1 ({latency_requests} requests): "
              f"p50 {percentile(sequential, 50) * 1000:.1f} ms   p99 {percentile(sequential, 99) * 1000:.1f} ms")
        for concurrency in (1, 8, 32):
            run_measured(url, pid, payloads, concurrency, seconds)
        print(f"gateway RSS: {rss_mib(pid):.0f} MiB ({len(process_tree(pid))} processes)")
        if fers:
            compare_with_fer(url, pid, payloads, seconds, rounds, fers)
    finally:
        gateway.stop()


def run_measured(url: str, pid: int, payloads: list[bytes], concurrency: int, seconds: float) -> float:
    """One throughput level, printed; returns images/s."""
    before, server_cpu, stages = batch_stats(url), cpu_seconds(pid), stage_seconds(url)
    result = asyncio.run(run_level(url, payloads, concurrency, seconds))
    after, server_cpu = batch_stats(url), cpu_seconds(pid) - server_cpu
    stages = {k: v - stages[k] for k, v in stage_seconds(url).items()}
    crops, calls = after[0] - before[0], after[1] - before[1]
    print(
        f"throughput @ concurrency {concurrency:>2}: {result['rps']:6.1f} images/s "
        f"({result['faces'] / (result['requests'] or 1):.2f} faces/image)   "
        f"p50 {percentile(result['latencies'], 50) * 1000:6.1f} ms   "
        f"p99 {percentile(result['latencies'], 99) * 1000:6.1f} ms   "
        f"mean batch size {crops / calls if calls else float('nan'):.2f}"
        + (f"   errors {result['errors']}" if result["errors"] else "")
    )
    # Both share this machine's cores: the server's CPU per image is what a dedicated
    # host would spend, the client's is what the load generator takes away from it.
    handled = result["requests"] + result["errors"]
    # Cores busy shows whether throughput is bound by CPU work (near 2 here) or by waiting.
    print(f"    CPU per request: gateway {server_cpu / handled * 1000:.1f} ms   "
          f"bench client {result['client_cpu'] / handled * 1000:.1f} ms   "
          f"gateway cores busy {server_cpu / result['elapsed']:.2f}")
    # Where a request's time goes, from the stage metrics: decode runs on the event loop, detection
    # (with cropping) in a worker, the model once per batch (its time shared by the batch's
    # requests); the rest of the CPU is HTTP, JSON and the event loop.
    per = {k: v / handled * 1000 for k, v in stages.items()}
    other = server_cpu / handled * 1000 - per["decode"] - per["detect"] - per["backend"]
    print(f"    per request: decode {per['decode']:.1f} ms   detect+crop {per['detect']:.1f} ms   "
          f"batch wait {per['queue']:.1f} ms   model {per['backend']:.1f} ms   "
          f"HTTP/serialise/event loop (CPU left over) {other:.1f} ms")
    return result["rps"]


def fer_round(fers: list[FerWorker], seconds: float) -> tuple[float, list[float], int]:
    """fer in every given process at once (each sequential): images/s summed, latencies, faces."""
    for fer in fers:
        fer.send(op="time", seconds=seconds)
    replies = [fer._reply() for fer in fers]
    latencies = [t for r in replies for t in r["latencies"]]
    return sum(len(r["latencies"]) / r["elapsed"] for r in replies), latencies, sum(r["faces"] for r in replies)


def compare_with_fer(url: str, pid: int, payloads: list[bytes], seconds: float, rounds: int,
                     fers: list[FerWorker]) -> None:
    """Gateway at concurrency 32 against fer, in alternating rounds: fer in one process (how it is
    usually run) and in as many processes as the gateway has cores (the images split between
    them), so that both sides use the whole machine."""
    ratios: dict[int, list[float]] = {1: [], len(fers): []}
    for k in range(rounds):
        print(f"round {k + 1}/{rounds}:")
        gateway_rps = run_measured(url, pid, payloads, 32, seconds)
        for processes in sorted(ratios):
            fer_rps, latencies, faces = fer_round(fers[:processes], seconds)
            print(f"fer 25.10.3 detect_emotions (Haar, {processes} process{'es' if processes > 1 else ''}, each "
                  f"sequential, {len(latencies)} images): p50 {percentile(latencies, 50) * 1000:.1f} ms   "
                  f"p99 {percentile(latencies, 99) * 1000:.1f} ms   {fer_rps:.1f} images/s   "
                  f"{faces / len(latencies):.2f} faces/image")
            ratios[processes].append(gateway_rps / fer_rps)
    for processes, values in ratios.items():
        print(f"gateway @ concurrency 32 / fer in {processes} process{'es' if processes > 1 else ''}, per round: "
              f"{', '.join(f'{r:.2f}x' for r in values)}   median {statistics.median(values):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each throughput level")
    parser.add_argument("--latency-requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3, help="alternating gateway/fer rounds at concurrency 32")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a gateway setting for this run, e.g. --set DETECT_IN=threads (repeatable)")
    parser.add_argument("--quality-scenes", type=int, default=1000,
                        help="also measure recall and accuracy on N other scenes (0: none): the timed set's "
                             "~54 faces cannot separate two models a point or two of val apart (default: %(default)s)")
    parser.add_argument("--quality-only", action="store_true",
                        help="recall and accuracy only (the timed scenes and --quality-scenes): no timing, no fer")
    args = parser.parse_args()
    scenes = make_scenes(args.scenes, seed=1000)
    if args.quality_only:
        settings = dict(item.split("=", 1) for item in args.set)
        more = make_scenes(args.quality_scenes, seed=2000) if args.quality_scenes else ()
        quality_only(scenes, settings, more)
        return
    payloads = [encode(s.image, "JPEG", quality=90) for s in scenes]
    print(f"{len(scenes)} scenes 640x480, {sum(len(s.boxes) for s in scenes) / len(scenes):.2f} faces/scene (truth)")
    with tempfile.TemporaryDirectory() as tmp:
        # As many fer processes as the gateway has cores (its DETECT_WORKERS default): the first has
        # every image (it also measures quality), the others a share each.
        cores = usable_cpus()
        images = [s.image for s in scenes]
        fers = [FerWorker.start(images if i == 0 else images[i::cores], Path(tmp) / f"fer-{i}") for i in range(cores)]
        fers = [f for f in fers if f is not None]
        try:
            settings = dict(item.split("=", 1) for item in args.set)
            more = make_scenes(args.quality_scenes, seed=2000) if args.quality_scenes else ()
            bench_gateway(scenes, payloads, args.seconds, args.latency_requests, args.rounds, fers, settings, more)
            if fers:
                found = [[(Box(*face["box"]), face["emotion"]) for face in image]
                         for image in fers[0].ask(op="quality")["found"]]
                print(f"fer quality: {quality(scenes, found)}")
        finally:
            for fer in fers:
                fer.stop()


if __name__ == "__main__":
    main()
