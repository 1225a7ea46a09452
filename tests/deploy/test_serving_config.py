"""Serving's config files parse as the protos the model server reads, and agree with each other."""

from __future__ import annotations

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2 as msc

from emotion_contract.layout import complete_versions
from emotion_rollout.serving_config import loaded_versions, model_entry
from tests.deploy.conftest import MODELS, REPO
from tests.deploy.serving_protos import BatchingParameters, MonitoringConfig

COMPOSE_DIR = REPO / "deploy" / "serving"
K8S_DIR = REPO / "deploy" / "k8s" / "serving"


def parse(path, message):
    return text_format.Parse(path.read_text(), message())


@pytest.mark.parametrize("folder", [COMPOSE_DIR, K8S_DIR], ids=["compose", "k8s"])
def test_models_config_loads_versions_on_disk_and_labels_name_loaded_ones(folder):
    config = parse(folder / "models.config", msc.ModelServerConfig)
    entry = model_entry(config, "emotion")
    assert entry.base_path == "/models/emotion" and entry.model_platform == "tensorflow"
    versions = loaded_versions(entry)
    assert versions, "the version policy must name specific versions (rollout keeps it that way)"
    assert versions <= set(complete_versions(MODELS)), "models.config names a version that is not shipped"
    assert {"stable", "canary"} <= set(entry.version_labels)
    assert set(entry.version_labels.values()) <= versions


@pytest.mark.parametrize("folder", [COMPOSE_DIR, K8S_DIR], ids=["compose", "k8s"])
def test_batching_parameters_are_ones_serving_accepts(folder):
    batching = parse(folder / "batching.config", BatchingParameters)
    sizes = list(batching.allowed_batch_sizes)
    # Serving's own rules: increasing, and the last allowed size equals max_batch_size.
    assert sizes == sorted(set(sizes)) and sizes[-1] == batching.max_batch_size.value
    assert batching.batch_timeout_micros.value > 0 and batching.num_batch_threads.value >= 1
    assert batching.max_enqueued_batches.value >= 1


def test_monitoring_path_is_the_one_prometheus_scrapes():
    monitoring = parse(COMPOSE_DIR / "monitoring.config", MonitoringConfig)
    assert monitoring.prometheus_config.enable
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "tf-serving")
    assert job["metrics_path"] == monitoring.prometheus_config.path


def test_k8s_copies_match_compose():
    for name in ("batching.config", "monitoring.config"):
        assert (K8S_DIR / name).read_text() == (COMPOSE_DIR / name).read_text(), name


def test_parser_rejects_what_serving_would():
    with pytest.raises(text_format.ParseError):
        text_format.Parse("max_batch_size: 64", BatchingParameters())  # a wrapper, needs { value: }
    with pytest.raises(text_format.ParseError):
        text_format.Parse("prometheus_config { enabled: true }", MonitoringConfig())
