"""hadolint and checkov pass on every Dockerfile and on the Kubernetes manifests as kustomize renders
them. Suppressions live inline beside their reason (`# checkov:skip=`, `checkov.io/skipN`), never
here. Compose has no checkov framework: test_compose.py holds its hardening rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO
from tests.deploy.test_k8s import KUBECTL

LINT_BIN = REPO / "build" / "lint-venv" / "bin"  # make lint-tools, from requirements/lint.txt
KUSTOMIZATIONS = [REPO / "deploy" / "k8s", REPO / "deploy" / "k8s-overlays" / "shared-storage"]


def tool(name: str) -> str:
    path = LINT_BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make lint-tools`")
    return str(path)


def dockerfiles() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*Dockerfile*"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    return [REPO / name for name in listed if (REPO / name).is_file()]


def hadolint(path: Path) -> subprocess.CompletedProcess:
    # Any finding fails, style hints included.
    return subprocess.run([tool("hadolint"), "--failure-threshold", "style", "--no-color", str(path)],
                          capture_output=True, text=True, timeout=60)


def checkov(framework: str, *files: Path) -> list[dict]:
    args = [tool("checkov"), "--framework", framework, "--skip-download", "--quiet", "--compact", "-o", "json"]
    for f in files:
        args += ["-f", str(f)]
    # --skip-download: no network here; it only drops links to the guidelines from the report.
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO)
    reports = json.loads(result.stdout)
    return reports if isinstance(reports, list) else [reports]


def failures(reports: list[dict]) -> list[str]:
    out = []
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        out += [f"{c['check_id']} {c['resource']} {c.get('file_path')}" for c in report["results"]["failed_checks"]]
    return out


def test_the_project_has_its_dockerfiles():
    names = {str(p.relative_to(REPO)) for p in dockerfiles()}
    assert {"services/api/Dockerfile", "services/trainer/Dockerfile", "deploy/models/Dockerfile"} <= names


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_passes(path):
    result = hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_every_dockerfile():
    reports = checkov("dockerfile", *dockerfiles())
    assert failures(reports) == []
    assert sum(r["summary"]["passed"] for r in reports) > 0


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(REPO / "deploy")))
def test_checkov_passes_the_rendered_kubernetes_manifests(folder, tmp_path):
    rendered = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(rendered.stdout)
    reports = checkov("kubernetes", manifest)
    assert failures(reports) == []
    assert sum(r["summary"]["passed"] for r in reports) > 100


def test_the_linters_do_reject_a_bad_image_and_a_bad_pod(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN apt-get update && apt-get install -y curl\nCMD curl localhost\n")
    assert hadolint(bad).returncode != 0
    assert any(f.startswith("CKV_DOCKER_3") for f in failures(checkov("dockerfile", bad)))  # runs as root
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n"
                   "    - {name: c, image: 'nginx:latest', securityContext: {privileged: true}}\n")
    found = failures(checkov("kubernetes", pod))
    assert any(f.startswith("CKV_K8S_16") for f in found)  # privileged
