"""Firm sizes that emerge (F1): equal starts, proportional stochastic growth (docs/ODD.md §7.6)."""


import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim.model import ClusterModel

EQUAL = {"firms.initial_sizes": "equal"}
PROPORTIONAL = {"demography.growth_mode": "proportional"}


def sizes(model: ClusterModel) -> np.ndarray:
    f = model.firms
    return f.employees[: f.n][f.alive[: f.n]]


def skewness(values: np.ndarray) -> float:
    return float(((values - values.mean()) ** 3).mean() / values.std() ** 3)


def test_equal_starts_put_every_firm_at_the_median():
    model = ClusterModel(seed=1, n_firms=50, steps=1, spin_up=0, **EQUAL)
    assert np.all(model.firms.employees[:50] == 10.0)


def test_proportional_growth_makes_sizes_skewed_from_equal_starts():
    """The same seed with the threshold rule stays near symmetric; compounding random growth
    skews it (fails if proportional growth is removed)."""
    runs = {}
    for mode in ("threshold", "proportional"):
        model = ClusterModel(seed=4, n_firms=300, steps=96, **EQUAL,
                             **{"demography.growth_mode": mode})
        model.run()
        runs[mode] = sizes(model)
    assert skewness(runs["proportional"]) > skewness(runs["threshold"]) + 0.3
    assert runs["proportional"].max() > runs["threshold"].max()
    assert model.stats["size_gini"] > 0 and model.stats["largest_firm"] == runs["proportional"].max()


def test_growth_is_braked_at_the_cap_and_nobody_is_laid_off_below_committed_work():
    model = ClusterModel(seed=2, n_firms=120, steps=36, **PROPORTIONAL,
                         **{"demography.growth_noise": 0.3, "firms.max_employees": 40.0})
    for _ in range(36):
        before = model.firms.employees[: model.firms.n].copy()
        model.step()
        f = model.firms
        n = len(before)
        live = f.alive[:n]
        after = f.employees[:n]
        assert (after[live] <= 40.0 + 1e-9).all() and (after[live] >= 1.0).all()
        kept = np.minimum(before, np.maximum(1.0, f.load[:n]))  # this month's committed work
        assert (after[live] >= kept[live] - 1e-9).all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), noise=st.floats(0.0, 0.5), equal=st.booleans())
def test_money_and_counts_are_conserved_with_proportional_growth(seed, noise, equal):
    overrides = {**PROPORTIONAL, "demography.growth_noise": noise}
    if equal:
        overrides.update(EQUAL)
    model = ClusterModel(seed=seed, n_firms=40, steps=12, **overrides)
    step_and_check_money(model, 12)


def test_same_seed_same_sizes():
    first, again = (ClusterModel(seed=9, n_firms=60, steps=24, **EQUAL, **PROPORTIONAL)
                    for _ in range(2))
    first.run()
    again.run()
    assert np.array_equal(sizes(first), sizes(again))
