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
    assert "--model_config_file=/models/state/models.config" in main["args"]
    assert "--allow_version_labels_for_unavailable_models=true" in main["args"]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in main["args"])
    assert 0 < float(flags["per_process_gpu_memory_fraction"]) <= 0.5, "leave GPU memory for a trainer"
    # One GPU, one pod: the old pod must stop before the new one can have the GPU and the volume.
    assert serving["spec"]["strategy"] == {"type": "Recreate"}


def test_gateway_reads_settings_and_keys_and_scales(manifests):
    gateway = find(manifests, "Deployment", "emotion-api")
    main = container(gateway)
    refs = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in main["envFrom"]}
    config = find(manifests, "ConfigMap", "emotion-api-config")
    # The keys are the operator's to create (docs/deploy.md): no placeholder ships, and without the
    # Secret the gateway does not start, open or otherwise.
    assert not [m for m in manifests if m["kind"] == "Secret"]
    secret_ref = next(ref["secretRef"] for ref in main["envFrom"] if "secretRef" in ref)
    assert not secret_ref.get("optional", False)
    assert refs == {"configMapRef": config["metadata"]["name"], "secretRef": "emotion-api-secrets"}
    assert config["data"]["ROLLOUT_STATE_PATH"] == "/models/state/rollout.json"
    assert config["data"]["SERVING_ADDRESS"] == "tf-serving:8500"
    assert config["data"]["REDIS_URL"] == "redis://redis:6379/0"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = find(manifests, "HorizontalPodAutoscaler", "emotion-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "emotion-api" and hpa["spec"]["maxReplicas"] > 1
    assert "replicas" not in gateway["spec"], "the HPA owns the replica count; apply would reset it"
    # One detection worker per CPU the pod may use.
    assert int(config["data"]["DETECT_WORKERS"]) == int(main["resources"]["limits"]["cpu"])
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


def pod_spec(deployment):
    return deployment["spec"]["template"]["spec"]


def all_containers(deployment):
    spec = pod_spec(deployment)
    return spec.get("initContainers", []) + spec["containers"]


def test_every_container_is_non_root_read_only_capability_free_and_limited(manifests):
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        pod = pod_spec(deployment)["securityContext"]
        # High uids (or nobody) that no host account shares.
        assert pod["runAsNonRoot"] and (pod["runAsUser"] >= 10000 or pod["runAsUser"] == 65534), name
        for c in all_containers(deployment):
            where = f"{name}/{c['name']}"
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], where
            assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], where
            assert c["resources"]["limits"].get("memory") and c["resources"]["limits"].get("cpu"), where


def test_images_are_pinned_and_local_builds_are_not_pulled(manifests):
    local = {"emotion-api", "emotion-models"}
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        for c in all_containers(deployment):
            name, _, tag = c["image"].partition(":")
            assert tag and tag != "latest", f"{c['image']} floats"
            # Never `Always` (the default for :latest): a locally built image has no registry.
            assert c["imagePullPolicy"] == "IfNotPresent", c["image"]
            if name in local:
                assert tag == "dev"


def test_models_reach_the_volume_before_serving_starts(manifests, tmp_path):
    """The seed-models init container copies the image's versions onto the volume; its script is
    run here on folders standing in for the image and the volume."""
    serving = find(manifests, "Deployment", "tf-serving")
    init = {c["name"]: c for c in pod_spec(serving)["initContainers"]}
    seed = init["seed-models"]
    assert seed["image"].startswith("emotion-models:")
    script, src, dst = seed["command"][1:]
    dockerfile = (REPO / "deploy" / "models" / "Dockerfile").read_text()
    assert f"COPY deploy/models/seed-models.sh {script}" in dockerfile and f"COPY models/emotion {src}" in dockerfile
    assert dst == "/models/emotion" and list(init) == ["seed-models", "seed-model-config"]

    image = tmp_path / "image"
    for version, complete in ((1, True), (2, True), (3, False)):
        (image / str(version) / "variables").mkdir(parents=True)
        if complete:
            (image / str(version) / "saved_model.pb").write_text(f"v{version}")
    (image / ".staging-x").mkdir()
    volume = tmp_path / "volume"
    (volume / "2").mkdir(parents=True)
    (volume / "2" / "saved_model.pb").write_text("exported on the cluster")

    def run_seed():
        result = subprocess.run(["sh", str(REPO / "deploy" / "models" / "seed-models.sh"), str(image), str(volume)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr

    run_seed()
    run_seed()  # every pod start runs it again
    assert sorted(p.name for p in volume.iterdir()) == ["1", "2"]
    assert (volume / "1" / "saved_model.pb").read_text() == "v1"
    assert (volume / "2" / "saved_model.pb").read_text() == "exported on the cluster"


def test_models_volume_binds_on_default_storage_classes(manifests):
    pvc = find(manifests, "PersistentVolumeClaim", "emotion-models")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and "storageClassName" not in pvc["spec"]
    # Every other pod that mounts it must then run on Serving's node.
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        volumes = pod_spec(deployment).get("volumes", [])
        uses = any(v.get("persistentVolumeClaim", {}).get("claimName") == "emotion-models" for v in volumes)
        if uses and deployment["metadata"]["name"] != "tf-serving":
            term = pod_spec(deployment)["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
            assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "tf-serving"}
            assert term["topologyKey"] == "kubernetes.io/hostname"


def test_shared_storage_overlay_switches_to_read_write_many():
    result = subprocess.run([KUBECTL, "kustomize", str(REPO / "deploy" / "k8s-overlays" / "shared-storage")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    pvc = find(docs, "PersistentVolumeClaim", "emotion-models")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"]
    assert "affinity" not in pod_spec(find(docs, "Deployment", "emotion-api"))


def test_prometheus_keeps_no_more_than_its_emptydir_holds(manifests):
    prometheus = find(manifests, "Deployment", "prometheus")
    data = next(v for v in pod_spec(prometheus)["volumes"] if v["name"] == "data")
    args = dict(a.lstrip("-").split("=", 1) for a in container(prometheus)["args"])
    if "emptyDir" in data:
        # Gone with the pod: promise days, not weeks, and stay inside the volume's size.
        assert data["emptyDir"].get("sizeLimit") and "storage.tsdb.retention.size" in args
        assert args["storage.tsdb.retention.time"] in {"1d", "2d", "24h", "48h"}
