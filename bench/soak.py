"""Soak: many clients for minutes on a mix of real scenes, pre-cropped faces and bad inputs.

    make soak                                  # 64 clients, 300 s
    make soak BENCH_ARGS="--clients 128 --seconds 600"

Starts the gateway the way `make run` does (embedded backend, shipped model) on a free loopback
port, with its working directory and TMPDIR in fresh folders, then keeps N clients busy (aiohttp,
one request at a time each). Prints requests by status, every connection error or lost response,
p50/p99 latency of answered requests (overall and by status), throughput, and the gateway's
memory (all its processes) sampled every few seconds with the slope after warm-up. Ends by listing
any file the gateway left in its working directory or temp dir (it must leave none: uploads are
never written).
Targets (README, Reliability): no 5xx, no connection error, no lost response, memory growth after
warm-up at most 5 % over 5 minutes, no files.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "services" / "contract"), str(REPO / "services" / "api")]

import aiohttp  # noqa: E402

from harness.images import encode, scene_png, val_faces  # noqa: E402
from harness.servers import Gateway, free_port, python_env, rss_mib  # noqa: E402

WARM_UP_S = 30.0
SAMPLE_S = 5.0


def payloads() -> list[tuple[str, bytes, dict]]:
    """(kind, body, query) in the mix a public endpoint sees: mostly photos, some faces, some junk."""
    mix = [("scene", scene_png(seed), {}) for seed in range(12)]
    mix += [("face", encode(face), {"detect": "false"}) for _, face in val_faces(per_class=2)]
    mix += [("bad", b"not an image", {}), ("bad", scene_png(1)[:300], {}), ("bad", b"", {}),
            ("bad", encode(val_faces(1)[0][1])[:20], {"detect": "false"}), ("bad", scene_png(2), {"model_version": "999"})]
    return mix


async def client(url: str, mix, stop_at: float, results: list, rng: random.Random) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        while time.monotonic() < stop_at:
            kind, body, query = rng.choice(mix)
            form = aiohttp.FormData()
            form.add_field("image", body, filename="upload", content_type="application/octet-stream")
            started = time.monotonic()
            try:
                async with session.post(f"{url}/v1/emotions", data=form, params=query) as response:
                    await response.read()
                    results.append((kind, response.status, time.monotonic() - started))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                results.append((kind, f"connection error: {type(exc).__name__}", time.monotonic() - started))


async def sample_memory(pid: int, stop_at: float, samples: list) -> None:
    start = time.monotonic()
    while time.monotonic() < stop_at:
        samples.append((time.monotonic() - start, rss_mib(pid)))
        await asyncio.sleep(SAMPLE_S)


def slope_per_5min(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares MiB per 5 minutes after warm-up, and as a share of the warm-up level."""
    after = [(t, m) for t, m in samples if t >= WARM_UP_S]
    if len(after) < 3:
        return float("nan"), float("nan")
    slope = statistics.linear_regression([t for t, _ in after], [m for _, m in after]).slope * 300
    return slope, slope / after[0][1]


def files_in(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


async def soak(url: str, pid: int, clients: int, seconds: float) -> tuple[list, list]:
    mix, results, samples = payloads(), [], []
    stop_at = time.monotonic() + seconds
    rng = random.Random(1)
    await asyncio.gather(sample_memory(pid, stop_at, samples),
                         *(client(url, mix, stop_at, results, random.Random(rng.random())) for _ in range(clients)))
    return results, samples


def run(clients: int, seconds: float, extra: dict[str, str] | None = None) -> tuple[list, list, set[str]]:
    """A gateway started for the soak, loaded; returns (results, memory samples, files it left)."""
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as tmp:
        settings = {"LOG_LEVEL": "warning", "TMPDIR": tmp, "MODEL_BASE_PATH": str(REPO / "models" / "emotion"),
                    **(extra or {})}
        port = free_port()
        env = python_env(settings)
        gateway = Gateway(port, env, Gateway._process(port, env))
        gateway.process.cwd = Path(work)  # its own working directory, watched for files
        gateway.process.start()
        gateway.wait()
        watched = {Path(work): files_in(Path(work)), Path(tmp): files_in(Path(tmp))}
        try:
            results, samples = asyncio.run(soak(gateway.url, gateway.process.popen.pid, clients, seconds))
            left = {str(p) for folder, before in watched.items() for p in files_in(folder) - before}
        finally:
            gateway.stop()
    return results, samples, left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a gateway setting")
    args = parser.parse_args()
    results, samples, left = run(args.clients, args.seconds, dict(item.split("=", 1) for item in args.set))
    statuses = Counter(r[1] for r in results)
    answered = sorted(r[2] for r in results if isinstance(r[1], int))
    print(f"{len(results)} requests from {args.clients} clients in {args.seconds:.0f} s: "
          f"{len(results) / args.seconds:.1f} requests/s")
    print("by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    by_kind = Counter((r[0], r[1]) for r in results)
    print("by input:  " + ", ".join(f"{k[0]} {k[1]}: {v}" for k, v in sorted(by_kind.items(), key=str)))
    if answered:
        print(f"latency of answered requests: p50 {answered[len(answered) // 2] * 1000:.0f} ms   "
              f"p99 {answered[int(len(answered) * 0.99)] * 1000:.0f} ms")
        # Per status, because under overload the refusals must be fast, not only the answers.
        by_status = {k: sorted(r[2] for r in results if r[1] == k) for k in statuses if isinstance(k, int)}
        print("by status, p50 / p99 ms: " + ", ".join(f"{k}: {v[len(v) // 2] * 1000:.0f} / "
                                                      f"{v[int(len(v) * 0.99)] * 1000:.0f}"
                                                      for k, v in sorted(by_status.items())))
    print("memory (MiB, all gateway processes): " + " ".join(f"{t:.0f}s:{m:.0f}" for t, m in samples))
    slope, share = slope_per_5min(samples)
    print(f"memory slope after {WARM_UP_S:.0f} s warm-up: {slope:+.1f} MiB per 5 min ({share:+.1%})")
    fivexx = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500)
    errors = sum(v for k, v in statuses.items() if not isinstance(k, int))
    print(f"5xx: {fivexx}   connection errors / lost responses: {errors}   files left behind: {sorted(left) or 'none'}")


if __name__ == "__main__":
    main()
