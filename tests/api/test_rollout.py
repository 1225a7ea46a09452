"""Rollout on the embedded backend: new version folders, the state file's split, pins, metrics."""

from __future__ import annotations

import shutil
import time
from collections import Counter

import pytest

from emotion_api.rollout_state import RolloutWatcher, Selector, Target, route
from emotion_contract.rollout import RolloutState, read_state, write_state
from harness.http import get, metric_value, post_image, scrape
from harness.images import encode, val_faces


def wait_for(predicate, timeout_s: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_route_honours_pins_and_weight():
    import random

    state = RolloutState(stable=1, canary=2, canary_weight=0.25)
    assert route(Selector(version=7), state) == Target(version=7)
    assert route(Selector(label="canary"), None) == Target(label="canary")
    assert route(Selector(), None) == Target()
    rng = random.Random(0)
    picks = Counter(route(Selector(), state, rng).label for _ in range(20_000))
    assert abs(picks["canary"] / 20_000 - 0.25) < 0.02
    no_canary = RolloutState(stable=1, canary=None, canary_weight=0.5)
    assert {route(Selector(), no_canary, rng) for _ in range(100)} == {Target(label="stable")}
    with pytest.raises(ValueError):
        Selector(version=1, label="stable")
    with pytest.raises(ValueError):
        RolloutState(stable=1, canary_weight=1.5)


def test_watcher_follows_the_file(tmp_path):
    path = tmp_path / "rollout.json"
    watcher = RolloutWatcher(path, poll_s=0.0)
    assert watcher.current() is None
    write_state(path, RolloutState(stable=1, canary=2, canary_weight=0.1, previous_stable=(1,)))
    assert watcher.current() == read_state(path) and watcher.current().canary == 2
    path.write_text("{ half written")
    assert watcher.current().canary == 2, "a broken file keeps the last good state"
    path.unlink()
    assert watcher.current() is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temp files left behind"


def test_canary_split_pins_and_per_version_metrics(gateway, gateway_model_dir):
    url = gateway.url
    stable = get(f"{url}/v1/models").json()["versions"][-1]
    canary = stable + 1
    source = (gateway_model_dir / str(stable)).resolve()
    # Half-written and hidden folders must be ignored; a complete one is picked up.
    (gateway_model_dir / f".staging-{canary + 1}").mkdir()
    shutil.copy(source / "saved_model.pb", gateway_model_dir / f".staging-{canary + 1}" / "saved_model.pb")
    (gateway_model_dir / str(canary + 2)).mkdir()
    (gateway_model_dir / str(canary)).symlink_to(source, target_is_directory=True)
    state_path = gateway_model_dir / "rollout.json"
    face = encode(val_faces(per_class=1)[3][1])
    try:
        write_state(state_path, RolloutState(stable=stable, canary=canary, canary_weight=0.5))
        models = wait_for(
            lambda: canary in (m := get(f"{url}/v1/models").json())["versions"] and m,
            what="the canary to load",
        )
        assert models["versions"][-2:] == [stable, canary], "hidden and partial folders must be skipped"
        assert models["version_labels"] == {"stable": stable, "canary": canary}
        assert models["canary_weight"] == 0.5

        seen = Counter(
            post_image(url, face, params={"detect": "false"}).json()["model"]["version"] for _ in range(30)
        )
        assert set(seen) == {stable, canary}, seen
        for version in (stable, canary):
            pinned = post_image(url, face, params={"detect": "false", "model_version": str(version)}).json()
            assert pinned["model"]["version"] == version
        by_label = post_image(url, face, params={"detect": "false", "model_label": "canary"}).json()
        assert by_label["model"]["version"] == canary
        text = scrape(url)
        for version in (stable, canary):
            assert metric_value(text, "emotion_model_version_requests_total",
                                {"version": str(version), "outcome": "ok"}) >= 1
            assert metric_value(text, "emotion_model_version_latency_seconds_count", {"version": str(version)}) >= 1
        wait_for(lambda: metric_value(scrape(url), "emotion_model_info", {"canary": str(canary)}) == 1,
                 what="the info metric to name the canary")
    finally:
        state_path.unlink(missing_ok=True)
        (gateway_model_dir / str(canary)).unlink()
        shutil.rmtree(gateway_model_dir / f".staging-{canary + 1}")
        (gateway_model_dir / str(canary + 2)).rmdir()
        wait_for(lambda: canary not in get(f"{url}/v1/models").json()["versions"], what="the canary to unload")
