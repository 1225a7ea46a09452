"""Prometheus configs and rules (promtool), the Grafana provisioning, and metric names that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from emotion_api import metrics as gateway_metrics
from tests.deploy.conftest import REPO

PROMTOOL = shutil.which("promtool") or "promtool"  # make system-deps installs it; a missing one fails loudly
RULES = REPO / "deploy" / "prometheus" / "rules" / "emotion.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "emotion.json"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def with_local_rules(config: Path, tmp_path: Path) -> Path:
    """The config with rule_files pointing at the repository's rules, so check config reads them.

    Debian's promtool is built without Kubernetes service discovery, so a kubernetes_sd_configs
    block becomes a static target there; everything else (relabelling included) is checked as is.
    """
    data = yaml.safe_load(config.read_text())
    assert data["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    data["rule_files"] = [str(RULES)]
    for job in data["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["pod.example:8000"]}]
    out = tmp_path / config.name
    out.write_text(yaml.safe_dump(data))
    return out


@pytest.mark.parametrize("config", ["deploy/prometheus/prometheus.yml", "deploy/k8s/prometheus/prometheus.yml"])
def test_prometheus_config_and_its_rules_pass_promtool(config, tmp_path):
    result = promtool("check", "config", str(with_local_rules(REPO / config, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "rules found" in result.stdout


def test_rules_pass_promtool_and_alerts_fire_on_synthetic_series():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    result = promtool("test", "rules", str(Path(__file__).parent / "promtool" / "emotion_rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_k8s_carries_the_same_rules():
    assert (REPO / "deploy" / "k8s" / "prometheus" / "rules" / "emotion.yml").read_text() == RULES.read_text()


def test_alerts_cover_errors_latency_overload_and_canary():
    alerts = {r["alert"]: r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"]
              for r in g["rules"] if "alert" in r}
    exprs = " ".join(alerts.values())
    assert "emotion:http_error_ratio" in exprs and "emotion:http_latency_p95" in exprs
    assert "emotion_overloaded_total" in exprs
    assert any("canary" in name.lower() for name in alerts)


def _gateway_series() -> set[str]:
    """Every series name the gateway exposes, from its metrics module's own declarations."""
    names = set()
    for value in vars(gateway_metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        for family in value.describe():
            suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"],
                        "info": ["_info"], "gauge": [""]}[family.type]
            names.update(family.name + s for s in suffixes)
    return names


def _queries() -> list[str]:
    rules = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return rules + [t["expr"] for p in panels for t in p["targets"]]


def test_every_gateway_metric_queried_exists():
    exposed = _gateway_series()
    queried = {m for q in _queries() for m in re.findall(r"(?<![:\w])(emotion_[a-z0-9_]+)", q)}
    assert queried, "no gateway metric is queried at all"
    assert queried <= exposed, f"queried but never exposed: {sorted(queried - exposed)}"


def test_every_recording_rule_used_is_defined():
    defined = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}
    used = {m for q in _queries() for m in re.findall(r"\bemotion:[a-z0-9_:]+", q)}
    assert used <= defined, sorted(used - defined)


def test_grafana_is_provisioned_with_the_dashboard_and_datasource():
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "emotion.yml").read_text())["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in compose["services"]["grafana"]["volumes"]

    dashboard = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("requests", "latency", "batch size", "faces per second", "emotions mix", "by model version"):
        assert topic in titles, f"no panel about {topic}"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        assert all(t["expr"].strip() for t in panel["targets"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
