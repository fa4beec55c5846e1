"""Calibrated values in the shipped scenarios name where they come from, and studies that
repeat a programme's calibrated parameters keep them in step with the scenario files."""

import re
import tomllib
from pathlib import Path

from clustersim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SOURCE = re.compile(r"calibrated: (experiments/[\w.]+\.toml), point (\d+) of (\d+)")


def test_every_calibrated_value_names_an_existing_calibration_and_a_sample_in_it():
    found = 0
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        for line in path.read_text().splitlines():
            if "calibrated:" not in line:
                continue
            match = SOURCE.search(line)
            assert match, f"{path.name}: {line!r} does not name its calibration run"
            experiment = ROOT / match[1]
            assert experiment.exists(), f"{path.name} cites {match[1]}, which does not exist"
            sampler = tomllib.loads(experiment.read_text())["sampler"]
            assert int(match[2]) < int(match[3]) == sampler["samples"]
            found += 1
    assert found >= 8  # denmark_1989 (5 values) and emilia_romagna's hubs (3)


def _policy(scenario: str, kind: str):
    return next(p for p in load_scenario(scenario).policies if p.type == kind)


def test_the_programme_scenarios_carry_the_calibrated_programmes():
    for field in ("recruitment", "awareness_lift", "caseload"):
        assert (getattr(_policy("danish_brokers", "brokers"), field)
                == getattr(_policy("denmark_1989", "brokers"), field))
    for field in ("fee", "fixed_cost", "join_rate"):
        assert (getattr(_policy("factor_hubs", "hubs"), field)
                == getattr(_policy("emilia_romagna", "hubs"), field))


def test_the_h2_study_uses_the_calibrated_programmes():
    study = tomllib.loads((ROOT / "experiments" / "factor_base_h2.toml").read_text())
    both = next(a for a in study["arms"] if a["name"] == "hubs_and_brokers")["set"]["policies"]
    hubs, brokers = both
    for field in ("fee", "fixed_cost", "join_rate"):
        assert hubs[field] == getattr(_policy("factor_hubs", "hubs"), field)
    for field in ("recruitment", "awareness_lift", "caseload"):
        assert brokers[field] == getattr(_policy("danish_brokers", "brokers"), field)
