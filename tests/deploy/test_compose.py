"""docker-compose.yml and its CPU override: valid, pinned, wired together, every mount present,
hardened, and writable only where the containers' users can write."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import REPO

COMPOSE = shutil.which("docker-compose") or "docker-compose"  # make system-deps installs it
# The secrets compose refuses to start without; tests set them, an operator's .env does.
SECRETS = {"API_KEYS": "test-key-0123", "GRAFANA_ADMIN_PASSWORD": "test-password"}
# Uid the project's images run as; the tools that write the rollout state run as it too.
APP_UID = "10001"


def run_compose_config(*files: Path, profiles: tuple[str, ...] = (), env: dict | None = None):
    args = [COMPOSE, "--project-directory", str(REPO)]
    for f in files:
        args += ["-f", str(f)]
    for p in profiles:
        args += ["--profile", p]
    base_env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(args + ["config"], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**base_env, **(SECRETS if env is None else env)})


def compose_config(*files: Path, profiles: tuple[str, ...] = ()) -> dict:
    result = run_compose_config(*files, profiles=profiles)
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
    return compose_config(REPO / "docker-compose.yml", profiles=("train", "ops", "embedded"))


def test_every_service_is_there(stack):
    assert set(stack["services"]) == {"state-seed", "serving", "api", "api-embedded", "redis", "prometheus",
                                      "grafana", "trainer", "rollout"}
    assert "version" not in yaml.safe_load((REPO / "docker-compose.yml").read_text()), "obsolete in Compose v2"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_refuses_to_start_without_each_secret(missing):
    result = run_compose_config(REPO / "docker-compose.yml", env={k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0 and missing in result.stderr


def test_both_gateway_image_targets_are_used(stack):
    # The production gateway is the lean image (no TensorFlow); the embedded one is its own profile.
    assert stack["services"]["api"]["build"]["target"] == "serving"
    assert stack["services"]["api"]["environment"]["BACKEND"] == "serving"
    embedded = stack["services"]["api-embedded"]
    assert embedded["build"]["target"] == "embedded" and embedded["environment"]["BACKEND"] == "embedded"
    assert {"source": str(REPO / "models"), "target": "/models", "read_only": True, "bind": True} in mounts(embedded)


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
    for flag in ("batching_parameters_file", "monitoring_config_file"):
        container_path = Path(flags[flag])
        host_path = by_target[str(container_path.parent)] / container_path.name
        assert host_path.is_file(), f"--{flag} points at {host_path}, which does not exist"
    # The live models.config is on the state volume, seeded from the tracked default before
    # Serving starts (test_state_volume_is_seeded_from_the_tracked_config).
    assert Path(flags["model_config_file"]).parent == Path("/state")
    assert by_target["/state"] == Path("rollout-state")
    assert serving["depends_on"]["state-seed"] == {"condition": "service_completed_successfully"}
    # A share of the GPU, not all of it: the trainer runs beside Serving (and grows as it needs).
    assert 0 < float(flags["per_process_gpu_memory_fraction"]) <= 0.5
    assert stack["services"]["trainer"]["environment"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
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
    assert env["API_KEYS"] == SECRETS["API_KEYS"]
    state = next(v for v in mounts(api) if v["source"] == "rollout-state")
    assert env["ROLLOUT_STATE_PATH"].startswith(state["target"] + "/") and state["read_only"]
    # One detection worker per CPU it may use, not per host core, however many replicas run.
    assert int(env["DETECT_WORKERS"]) == int(float(api["deploy"]["resources"]["limits"]["cpus"]))
    assert api["build"]["target"] == "serving"


def test_no_image_floats_on_latest(stack):
    # Built images too: `latest` would also name a public image that does not exist.
    for name, service in stack["services"].items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name


def test_trainer_exports_into_the_models_serving_reads(stack):
    trainer = stack["services"]["trainer"]
    assert "train" in trainer["profiles"] and "--export" in trainer["command"]
    assert any(v["target"] == "/models" and not v["read_only"] for v in mounts(trainer))


def test_rollout_writes_only_to_the_state_volume_serving_and_the_gateway_read(stack):
    """uid 10001 cannot write into a bind-mounted checkout owned by the host user; every path the
    tool writes must be on the named volume, and the checkout stays read-only to it."""
    rollout = stack["services"]["rollout"]
    env = rollout["environment"]
    assert env["ROLLOUT_BACKEND"] == "serving"
    writable = [v for v in mounts(rollout) if not v["read_only"]]
    assert [v["source"] for v in writable] == ["rollout-state"], "the tool may write to the state volume only"
    state_dir = writable[0]["target"]
    for setting in ("ROLLOUT_STATE_PATH", "SERVING_MODEL_CONFIG", "ROLLOUT_GATE_DIR"):
        assert env[setting].startswith(state_dir + "/"), f"{setting} must be on the state volume"
    assert any(v["target"] == "/models" and v["read_only"] for v in mounts(rollout))
    # The models.config it rewrites is the one Serving reads, and the state file the gateway reads.
    serving = stack["services"]["serving"]
    serving_flags = dict(arg.lstrip("-").split("=", 1) for arg in serving["command"])
    serving_state = next(v["target"] for v in mounts(serving) if v["source"] == "rollout-state")
    assert serving_flags["model_config_file"] == env["SERVING_MODEL_CONFIG"].replace(state_dir, serving_state, 1)
    assert stack["services"]["api"]["environment"]["ROLLOUT_STATE_PATH"] == env["ROLLOUT_STATE_PATH"]
    assert rollout["user"].split(":")[0] == APP_UID


def test_state_volume_is_seeded_from_the_tracked_config(stack, tmp_path):
    """The seed service's own script, run here on folders standing in for its two mounts."""
    seed = stack["services"]["state-seed"]
    by_target = {v["target"]: v for v in mounts(seed)}
    script, defaults, state, owner = seed["command"][1:]
    assert by_target[defaults]["source"] == str(REPO / "deploy" / "serving") and by_target[defaults]["read_only"]
    assert by_target[state]["source"] == "rollout-state" and owner == APP_UID
    host_script = Path(by_target[defaults]["source"]) / Path(script).relative_to(defaults)
    uid = str(os.getuid())

    def run_seed():
        result = subprocess.run(["sh", str(host_script), str(REPO / "deploy" / "serving"), str(tmp_path / "state"),
                                 uid], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr

    run_seed()
    live = tmp_path / "state" / "models.config"
    assert live.read_text() == (REPO / "deploy" / "serving" / "models.config").read_text()
    assert (tmp_path / "state" / "gate").is_dir()
    live.write_text("# what the rollout tool wrote\n")
    run_seed()
    assert live.read_text() == "# what the rollout tool wrote\n", "a restart must keep the rollout's config"
    assert sorted(p.name for p in live.parent.iterdir()) == ["gate", "models.config"]


def test_every_container_is_hardened_and_limited(stack):
    for name, service in stack["services"].items():
        assert service.get("read_only") is True, f"{name}: root file system must be read-only"
        assert service.get("cap_drop") == ["ALL"], f"{name}: drop every capability"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory") and float(limits.get("cpus", 0)) > 0, f"{name}: needs CPU and memory limits"
        user = str(service.get("user", "")).split(":")[0]
        if name == "state-seed":
            # The one root container: a fresh named volume belongs to root. It gets back only
            # what handing the volume over needs, and no network.
            assert user == "0" and sorted(service["cap_add"]) == ["CHOWN", "DAC_OVERRIDE"]
            assert service["network_mode"] == "none" and "ports" not in service
        else:
            assert user and user != "0" and "cap_add" not in service, f"{name}: must run as a non-root user"


def test_admin_endpoints_are_not_published(stack):
    prometheus = stack["services"]["prometheus"]
    assert not any("enable-lifecycle" in arg or "enable-admin-api" in arg for arg in prometheus["command"])
    for name in ("prometheus", "grafana"):
        for port in stack["services"][name]["ports"]:
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} is published beyond loopback by default: {port}"


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
