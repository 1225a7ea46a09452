"""The shared contract: what a complete version is, how numbers are taken, the rollout state file."""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest

from emotion_contract import layout
from emotion_contract.rollout import HISTORY, RolloutState, read_state, write_state

PACKAGE = Path(__file__).resolve().parents[2] / "services" / "contract" / "emotion_contract"


def test_the_contract_imports_only_the_standard_library():
    """The lean gateway installs it without TensorFlow or numpy."""
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{source.name} imports {name}"


def _version(base: Path, name: str, complete: bool = True) -> Path:
    folder = base / name
    (folder / "variables").mkdir(parents=True)
    if complete:
        (folder / layout.SAVED_MODEL_FILE).write_bytes(b"")
    return folder


def test_only_numbered_folders_with_a_saved_model_are_versions(tmp_path):
    _version(tmp_path, "1")
    _version(tmp_path, "12")
    _version(tmp_path, "3", complete=False)  # being copied in: reserves its number only
    _version(tmp_path, layout.STAGING_PREFIX + "abc")  # complete inside, but hidden
    (tmp_path / "rollout.json").write_text("{}")
    (tmp_path / ".rollout").mkdir()
    assert layout.complete_versions(tmp_path) == [1, 12]
    assert layout.complete_folders(tmp_path) == [tmp_path / "1", tmp_path / "12"]
    assert layout.newest_version(tmp_path) == 12
    assert layout.next_version(tmp_path) == 13
    assert not layout.is_complete(tmp_path / "3")


def test_an_empty_or_missing_base_has_no_versions(tmp_path):
    assert layout.complete_versions(tmp_path / "missing") == []
    assert layout.newest_version(tmp_path) is None
    (tmp_path / "4").mkdir()  # an incomplete folder still takes its number
    assert layout.newest_version(tmp_path) is None and layout.next_version(tmp_path) == 5


def test_label_names_come_from_labels_txt_else_the_card(tmp_path):
    folder = _version(tmp_path, "1")
    layout.labels_path(folder).parent.mkdir()
    layout.labels_path(folder).write_text("a\nb\n\n")
    assert layout.read_label_names(folder) == ("a", "b")
    layout.labels_path(folder).write_text("")
    layout.model_card_path(folder).write_text(json.dumps({"labels": ["x", "y", "z"]}))
    assert layout.read_label_names(folder) == ("x", "y", "z")


def test_state_round_trip_is_atomic_and_world_readable(tmp_path):
    path = tmp_path / "rollout.json"
    assert read_state(path) is None
    saved = write_state(path, RolloutState(stable=1, canary=2, canary_weight=0.25,
                                           previous_stable=tuple(range(1, HISTORY + 5))))
    assert saved.updated_at and len(saved.previous_stable) == HISTORY
    assert read_state(path) == saved
    assert json.loads(path.read_text())["previous_stable"] == list(saved.previous_stable)
    assert [p.name for p in tmp_path.iterdir()] == ["rollout.json"], "no temporary file left behind"
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("raw", [[1], {"stable": 0}, {"stable": "2"}, {"stable": True}, {"canary_weight": 2}])
def test_malformed_states_are_refused(raw):
    with pytest.raises(ValueError):
        RolloutState.from_json(raw)
