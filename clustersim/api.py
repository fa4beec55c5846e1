"""A plain-function entry point for tools that drive the model from outside.

EMA Workbench, SALib scripts, notebooks and optimisers want a function from parameter
values to numbers; :func:`run_scenario` is that function. See
``examples/ema_scenario_discovery.py`` for EMA's samplers and scenario discovery on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clustersim.scenario import Scenario


def run_scenario(scenario: Scenario | str | Path = "baseline", seed: int = 0,
                 steps: int | None = None, **overrides: Any) -> dict[str, float]:
    """Run one scenario and return its outcomes (:data:`clustersim.outcomes.OUTCOMES`).

    ``scenario`` is a shipped scenario's name, a path or a :class:`Scenario`; ``steps``
    defaults to the scenario's own; ``overrides`` are scenario keys in any of the forms
    :class:`~clustersim.model.ClusterModel` accepts (``n_firms=300``,
    ``market__volatility=0.3``, ``**{"teams.max_size": 6}``). The same arguments always
    give the same dict.

    >>> out = run_scenario("baseline", seed=1, steps=12, n_firms=60)
    >>> sorted(out)[:3]
    ['clustering', 'employment_change', 'entries']
    """
    from clustersim.experiments.execute import release
    from clustersim.model import ClusterModel
    from clustersim.outcomes import summarise

    model = ClusterModel(scenario, seed=seed, **overrides)
    try:
        model.run(steps)
        return summarise(model)
    finally:
        release(model)
