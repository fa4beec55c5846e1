"""The region: layouts, firm placement, travel time and the spatial index of partner search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.region import CellIndex, Region
from clustersim.scenario import RegionConfig


def make_region(seed: int = 0, **cfg) -> Region:
    return Region.from_config(RegionConfig(**cfg), np.random.default_rng(seed))


def mean_pairwise_km(x: np.ndarray, y: np.ndarray) -> float:
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    n = len(x)
    return float(d.sum() / (n * (n - 1)))


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", ["clustered", "dispersed"])
def test_firms_are_placed_inside_the_region(layout):
    region = make_region(1, layout=layout)
    x, y = region.place_firms(2_000, np.random.default_rng(2))
    assert x.shape == y.shape == (2_000,)
    for coord in (x, y):
        assert coord.min() >= 0.0
        assert coord.max() <= region.size_km
    assert np.all((region.towns_xy >= 0) & (region.towns_xy <= region.size_km))


@pytest.mark.parametrize("layout", ["clustered", "dispersed"])
def test_firms_gather_around_their_towns(layout):
    region = make_region(3, layout=layout)
    x, y = region.place_firms(2_000, np.random.default_rng(4))
    town = region.nearest_town(x, y)
    dist = np.hypot(x - region.towns_xy[town, 0], y - region.towns_xy[town, 1])
    # Normal offsets of sd s per axis: 95% of firms lie within about 2.45 s of a town.
    assert np.mean(dist <= 3 * region.town_spread_km) > 0.95


def test_layout_defaults_and_overrides():
    clustered = make_region(layout="clustered")
    dispersed = make_region(layout="dispersed")
    assert (len(clustered.towns_xy), clustered.size_km) == (4, 80.0)
    assert (len(dispersed.towns_xy), dispersed.size_km) == (12, 600.0)
    custom = make_region(layout="dispersed", towns=3, size_km=100.0, town_spread_km=2.0)
    assert (len(custom.towns_xy), custom.size_km, custom.town_spread_km) == (3, 100.0, 2.0)
    assert custom.town_weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_dispersed_firms_are_much_farther_apart(seed):
    rng = np.random.default_rng(seed)
    clustered = mean_pairwise_km(*make_region(seed, layout="clustered").place_firms(400, rng))
    dispersed = mean_pairwise_km(*make_region(seed, layout="dispersed").place_firms(400, rng))
    assert dispersed > 4 * clustered
    assert clustered < 60.0 < dispersed  # an hour's drive at 60 km/h


def test_place_near_stays_inside_the_region():
    region = make_region(5, layout="clustered")
    rng = np.random.default_rng(6)
    for x, y in [(0.0, 0.0), (region.size_km, region.size_km), (40.0, 40.0)]:
        points = np.array([region.place_near(x, y, 30.0, rng) for _ in range(300)])
        assert points.min() >= 0.0
        assert points.max() <= region.size_km
    near = np.array([region.place_near(40.0, 40.0, 3.0, rng) for _ in range(300)])
    assert np.hypot(near[:, 0] - 40.0, near[:, 1] - 40.0).mean() < 6.0


def test_nearest_town_is_the_closest():
    region = make_region(7, layout="dispersed")
    x, y = region.place_firms(300, np.random.default_rng(8))
    d = np.hypot(x[:, None] - region.towns_xy[None, :, 0], y[:, None] - region.towns_xy[None, :, 1])
    assert np.array_equal(region.nearest_town(x, y), d.argmin(axis=1))


# --------------------------------------------------------------------------- travel


def test_travel_hours_is_distance_over_speed():
    region = make_region(speed_kmh=60.0)
    assert region.travel_hours(0.0, 0.0, 30.0, 40.0) == pytest.approx(50.0 / 60.0)
    slow = make_region(speed_kmh=40.0)
    assert slow.travel_hours(0.0, 0.0, 30.0, 40.0) == pytest.approx(50.0 / 40.0)
    assert region.travel_hours(12.0, 7.0, 12.0, 7.0) == 0.0


def test_search_radius_is_the_distance_covered_in_the_search_hours():
    region = make_region(speed_kmh=50.0, search_radius_hours=1.5)
    assert region.search_radius_km == pytest.approx(75.0)
    assert region.travel_hours(0.0, 0.0, region.search_radius_km, 0.0) == pytest.approx(1.5)


coordinate = st.floats(0.0, 600.0)


@given(
    a=st.tuples(coordinate, coordinate),
    b=st.tuples(coordinate, coordinate),
    speed=st.floats(1.0, 300.0),
)
def test_travel_hours_is_symmetric_and_matches_hypot(a, b, speed):
    region = make_region(speed_kmh=speed)
    hours = region.travel_hours(*a, *b)
    assert hours == region.travel_hours(*b, *a)
    assert hours == pytest.approx(math.dist(a, b) / speed)


# --------------------------------------------------------------------------- spatial index


@settings(max_examples=300, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.floats(0.0, 600.0), st.floats(0.0, 600.0)), min_size=1, max_size=60
    ),
    member_mask=st.lists(st.booleans(), min_size=60, max_size=60),
    radius=st.floats(0.5, 700.0),
    query=st.tuples(st.floats(0.0, 600.0), st.floats(0.0, 600.0)),
)
def test_neighbourhood_holds_every_member_within_the_radius(points, member_mask, radius, query):
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    members = np.flatnonzero(np.array(member_mask[: len(points)]))
    index = CellIndex(x, y, members, radius)
    qx, qy = query
    hood = index.neighbourhood(qx, qy)
    within = {int(m) for m in members if math.hypot(x[m] - qx, y[m] - qy) <= radius}
    assert within <= set(hood)
    assert set(hood) <= set(members.tolist())  # never a firm that is not a member
    assert len(hood) == len(set(hood))  # each member once
    # Querying from a member's own position finds the member.
    for m in members[:5].tolist():
        assert m in index.neighbourhood(float(x[m]), float(y[m]))


def test_neighbourhood_leaves_out_far_members():
    x = np.array([0.5, 1.5, 5.5, 50.0])
    y = np.array([0.5, 0.5, 0.5, 50.0])
    index = CellIndex(x, y, np.arange(4), cell_km=1.0)
    assert sorted(index.neighbourhood(0.5, 0.5)) == [0, 1]
    assert index.neighbourhood(20.0, 20.0) == []


def test_empty_member_set():
    x = np.array([1.0, 2.0])
    y = np.array([1.0, 2.0])
    index = CellIndex(x, y, np.array([], dtype=np.int64), cell_km=10.0)
    assert index.neighbourhood(1.0, 1.0) == []
    assert (
        CellIndex(np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), 5.0).neighbourhood(
            0.0, 0.0
        )
        == []
    )
