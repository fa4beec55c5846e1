"""clustersim: agent-based simulation of manufacturing clusters."""

from clustersim.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
)

__version__ = "0.1.0"

__all__ = [
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "scenario_from_dict",
]
