"""deploy/k8s builds with kustomize and every manifest passes the Kubernetes JSON schemas."""

from __future__ import annotations

import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import REPO

KUBECTL = shutil.which("kubectl") or "kubectl"  # scripts/install-system-deps.sh installs it when missing


@pytest.fixture(scope="module")
def manifests() -> list[dict]:
    result = subprocess.run([KUBECTL, "kustomize", str(REPO / "deploy" / "k8s")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(manifests, kind, name):
    return next(m for m in manifests if m["kind"] == kind and m["metadata"]["name"].startswith(name))


def test_every_manifest_passes_the_schema(manifests):
    version = kubernetes_validate.latest_version()
    for manifest in manifests:
        # strict: unknown fields are errors too, as `kubectl apply --validate=strict` would say.
        kubernetes_validate.validate(manifest, version, strict=True)
    assert {m["metadata"].get("namespace") for m in manifests if m["kind"] != "Namespace"} == {"emotion"}


def test_the_validator_does_reject_a_bad_manifest(manifests):
    broken = find(manifests, "Deployment", "emotion-api")
    broken = {**broken, "spec": {**broken["spec"], "replicas": "three"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def container(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_serving_gets_a_gpu_the_models_volume_and_model_status_readiness(manifests):
    serving = find(manifests, "Deployment", "tf-serving")
    main = container(serving)
    assert main["image"].startswith("tensorflow/serving:") and main["image"].endswith("-gpu")
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "/v1/models/emotion" in " ".join(main["readinessProbe"]["exec"]["command"])
    volumes = {v["name"]: v for v in serving["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "emotion-models"
    find(manifests, "PersistentVolumeClaim", "emotion-models")
    # The live models.config is on the volume, where the rollout tool can rewrite it.
    assert "--model_config_file=/models/serving/models.config" in main["args"]
    assert "--allow_version_labels_for_unavailable_models=true" in main["args"]


def test_gateway_reads_settings_and_keys_and_scales(manifests):
    gateway = find(manifests, "Deployment", "emotion-api")
    main = container(gateway)
    refs = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in main["envFrom"]}
    config = find(manifests, "ConfigMap", "emotion-api-config")
    secret = find(manifests, "Secret", "emotion-api-secrets")
    assert refs == {"configMapRef": config["metadata"]["name"], "secretRef": secret["metadata"]["name"]}
    assert config["data"]["SERVING_ADDRESS"] == "tf-serving:8500"
    assert config["data"]["REDIS_URL"] == "redis://redis:6379/0"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = find(manifests, "HorizontalPodAutoscaler", "emotion-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "emotion-api" and hpa["spec"]["maxReplicas"] > 1
    for name in ("emotion-api", "tf-serving", "redis", "prometheus"):
        service = find(manifests, "Service", name)
        assert service["spec"]["selector"].items() <= \
            find(manifests, "Deployment", name)["spec"]["template"]["metadata"]["labels"].items()


def test_prometheus_mounts_its_config_and_rules_and_may_list_pods(manifests):
    prometheus = find(manifests, "Deployment", "prometheus")
    config_map = find(manifests, "ConfigMap", "prometheus-config")
    (volume,) = [v for v in prometheus["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert {item["key"] for item in volume["configMap"]["items"]} == set(config_map["data"])
    scrape = yaml.safe_load(config_map["data"]["prometheus.yml"])
    assert scrape["scrape_configs"][0]["kubernetes_sd_configs"][0]["role"] == "pod"
    role = find(manifests, "Role", "prometheus")
    assert "pods" in role["rules"][0]["resources"] and "list" in role["rules"][0]["verbs"]
    for name in ("emotion-api", "tf-serving"):
        annotations = find(manifests, "Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
