"""Where a stream searches the next frame (stream_regions.py): around followed faces, or whole."""

from __future__ import annotations

import pytest

from emotion_api.faces import Box
from emotion_api.stream_regions import RegionPlanner

W, H = 640, 480
FACE = Box(100, 100, 100, 100)


def test_the_first_frame_and_a_frame_without_faces_are_searched_whole() -> None:
    planner = RegionPlanner(full_every=5)
    assert planner.plan([], W, H) is None
    planner.record(None, 0, 1)
    assert planner.plan([], W, H) is None  # nothing followed: a new face could be anywhere


def test_between_whole_searches_only_the_widened_box_is_searched_for_faces_near_its_size() -> None:
    planner = RegionPlanner(full_every=5, margin=0.25, size_floor=0.6)
    planner.record(None, 0, 1)
    (region,) = planner.plan([FACE], W, H)
    assert region.box == Box(75, 75, 150, 150)
    assert region.smallest_face == 60


def test_every_nth_frame_is_searched_whole_from_the_start() -> None:
    planner = RegionPlanner(full_every=3)
    kinds = []
    followed: list[Box] = []
    for _ in range(7):
        plan = planner.plan(followed, W, H)
        kinds.append("W" if plan is None else "r")
        planner.record(plan, len(followed), 1)
        followed = [FACE]
    assert "".join(kinds) == "WrrWrrW"


def test_one_means_every_frame_whole() -> None:
    planner = RegionPlanner(full_every=1)
    for _ in range(3):
        assert planner.plan([FACE], W, H) is None
        planner.record(None, 1, 1)
    with pytest.raises(ValueError):
        RegionPlanner(full_every=0)


def test_a_face_lost_in_its_region_sends_the_next_frame_to_a_whole_search() -> None:
    planner = RegionPlanner(full_every=10)
    planner.record(None, 0, 2)
    plan = planner.plan([FACE, Box(400, 100, 100, 100)], W, H)
    assert plan is not None and len(plan) == 2
    planner.record(plan, 2, 1)  # one of the two faces was not found
    assert planner.plan([FACE], W, H) is None


def test_overlapping_regions_are_joined_and_keep_the_smaller_floor() -> None:
    planner = RegionPlanner(full_every=10, margin=0.25, size_floor=0.5)
    planner.record(None, 0, 2)
    (region,) = planner.plan([FACE, Box(190, 110, 80, 80)], W, H)
    assert region.box == Box(75, 75, 215, 150)  # x 75..290, y 75..225
    assert region.smallest_face == 40


def test_regions_covering_most_of_the_frame_are_not_worth_it() -> None:
    planner = RegionPlanner(full_every=10, margin=0.5, max_share=0.5)
    planner.record(None, 0, 1)
    assert planner.plan([Box(120, 40, 400, 400)], W, H) is None


def test_regions_stay_inside_the_frame() -> None:
    planner = RegionPlanner(full_every=10, margin=0.5)
    planner.record(None, 0, 1)
    (region,) = planner.plan([Box(0, 400, 60, 80)], W, H)
    assert (region.box.x, region.box.y) == (0, 360) and region.box.y + region.box.height == H
