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
    "ClusterModel",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "parse_scenario",
    "run_experiment",
    "run_scenario",
    "scenario_from_dict",
]


def __getattr__(name: str):
    """Import the model and the sweep lazily, so the CLI answers --help without loading Mesa."""
    if name == "ClusterModel":
        from clustersim.model import ClusterModel

        return ClusterModel
    if name == "run_scenario":
        from clustersim.api import run_scenario

        return run_scenario
    if name == "run_experiment":
        from clustersim.experiments.sweep import run_experiment

        return run_experiment
    raise AttributeError(f"module 'clustersim' has no attribute {name!r}")
