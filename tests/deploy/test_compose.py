"""docker-compose.yml and its CPU override: valid, pinned, wired together, every mount present."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import REPO

COMPOSE = shutil.which("docker-compose") or "docker-compose"  # make system-deps installs it


def compose_config(*files: Path, profiles: tuple[str, ...] = ()) -> dict:
    args = [COMPOSE, "--project-directory", str(REPO)]
    for f in files:
        args += ["-f", str(f)]
    for p in profiles:
        args += ["--profile", p]
    result = subprocess.run(args + ["config"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def mounts(service: dict) -> list[dict]:
    """Volumes as {source, target, read_only, bind}; `config` prints them as src:dst[:mode]."""
    out = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        out.append({"source": source, "target": target, "read_only": mode == ["ro"],
                    "bind": source.startswith("/")})
    return out


@pytest.fixture(scope="module")
def stack() -> dict:
    return compose_config(REPO / "docker-compose.yml", profiles=("train", "ops"))


def test_every_service_is_there(stack):
    assert set(stack["services"]) == {"serving", "api", "redis", "prometheus", "grafana", "trainer", "rollout"}


def test_every_bind_mount_and_build_file_exists(stack):
    for name, service in stack["services"].items():
        for volume in mounts(service):
            if volume["bind"]:
                assert Path(volume["source"]).exists(), f"{name} mounts missing {volume['source']}"
        if "build" in service:
            dockerfile = Path(service["build"]["context"]) / service["build"].get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name} builds from missing {dockerfile}"


def test_serving_runs_the_pinned_gpu_image_with_our_configs(stack):
    serving = stack["services"]["serving"]
    image, tag = serving["image"].split(":")
    assert image == "tensorflow/serving" and tag.endswith("-gpu") and tag[0].isdigit()
    devices = serving["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in serving["command"])
    by_target = {v["target"]: Path(v["source"]) for v in mounts(serving)}
    for flag in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        container_path = Path(flags[flag])
        host_path = by_target[str(container_path.parent)] / container_path.name
        assert host_path.is_file(), f"--{flag} points at {host_path}, which does not exist"
    assert flags["enable_batching"] == "true" and int(flags["model_config_file_poll_wait_seconds"]) > 0
    # models.config carries labels; Serving applies labels before loading versions, so at start-up
    # it refuses them unless new labels may name versions that are still loading.
    assert flags["allow_version_labels_for_unavailable_models"] == "true"
    assert "healthcheck" in serving


def test_gateway_waits_for_healthy_dependencies_and_is_checked_on_readyz(stack):
    api = stack["services"]["api"]
    assert api["depends_on"] == {"serving": {"condition": "service_healthy"},
                                 "redis": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert api["restart"] in ("always", "unless-stopped")
    env = api["environment"]
    assert env["BACKEND"] == "serving" and env["SERVING_ADDRESS"] == "serving:8500"
    assert env["REDIS_URL"].startswith("redis://redis:") and env["RATE_LIMIT"]
    assert env["ROLLOUT_STATE_PATH"].startswith("/models/")


def test_no_image_floats_on_latest(stack):
    for name, service in stack["services"].items():
        if "build" not in service:
            assert ":" in service["image"] and not service["image"].endswith(":latest"), name


def test_trainer_and_rollout_share_the_models_volume_with_serving(stack):
    trainer = stack["services"]["trainer"]
    assert "train" in trainer["profiles"] and "--export" in trainer["command"]
    assert any(v["target"] == "/models" and not v["read_only"] for v in mounts(trainer))
    rollout = stack["services"]["rollout"]
    assert rollout["environment"]["ROLLOUT_BACKEND"] == "serving"
    # The tool rewrites the same models.config that Serving reads.
    serving_config_dir = next(v["source"] for v in mounts(stack["services"]["serving"]) if v["target"] == "/config")
    assert any(v["source"] == serving_config_dir and not v["read_only"] for v in mounts(rollout))


class _ResetLoader(yaml.SafeLoader):
    """Reads Compose v2's `!reset` tag (Debian's docker-compose 1.29 predates it)."""


_RESET = object()
_ResetLoader.add_constructor("!reset", lambda loader, node: _RESET)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if value is _RESET:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_cpu_override_drops_the_gpu_and_stays_valid(tmp_path):
    base = yaml.load((REPO / "docker-compose.yml").read_text(), _ResetLoader)
    override = yaml.load((REPO / "docker-compose.cpu.yml").read_text(), _ResetLoader)
    merged_path = REPO / f".compose-cpu-check-{tmp_path.name}.yml"  # beside the original: relative paths hold
    try:
        merged_path.write_text(yaml.safe_dump(_merge(base, override), sort_keys=False))
        cpu = compose_config(merged_path, profiles=("train",))
    finally:
        merged_path.unlink(missing_ok=True)
    for name, service in cpu["services"].items():
        assert "deploy" not in service or "devices" not in str(service["deploy"]), f"{name} still reserves a GPU"
    assert not cpu["services"]["serving"]["image"].endswith("-gpu")
    assert cpu["services"]["serving"]["image"].startswith("tensorflow/serving:")
