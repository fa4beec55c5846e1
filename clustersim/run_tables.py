"""Per-run tables a study may keep beside the summaries and monthly series (docs/sweeps.md).

Asked for by name in an experiment file (``tables = ["formal_networks", "grant_projects",
"firms_end", "team_sizes"]``) or on ``clustersim run``; each is one DataFrame per run, kept in
the results store as ``run_<name>`` with the run's id on every row, written in the same
transaction as the run's summary:

* ``formal_networks``: every formal network a broker built: id, members at the end (JSON),
  size, activities, month formed, last month of joint work, whether active at the end, and
  the month it went inactive (its last joint work + 12) if it did;
* ``grant_projects``: every funded joint project: programme, consortium (JSON), size, whether a
  broker proposed it, mean pair trust at funding, start, months, failed joint tasks, outcome;
* ``firms_end``: the living firms at the end: size, age, specialty, hub, formal network,
  cumulative revenue, ties and largest share of output from one lead (§7.13);
* ``team_sizes``: per month, how many teams of each size won an order (the distribution behind
  ``mean_team_size``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clustersim.formal import ACTIVE_WINDOW

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

# name → (column, DuckDB type) of each table, without the run_id every row also gets.
RUN_TABLE_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "formal_networks": [("network", "BIGINT"), ("members", "VARCHAR"), ("size", "INTEGER"),
                        ("activities", "VARCHAR"), ("formed", "INTEGER"),
                        ("last_active", "INTEGER"), ("active_at_end", "BOOLEAN"),
                        ("dissolved", "INTEGER")],
    "grant_projects": [("project", "BIGINT"), ("policy", "VARCHAR"), ("members", "VARCHAR"),
                       ("size", "INTEGER"), ("broker_prepared", "BOOLEAN"), ("trust", "DOUBLE"),
                       ("start", "INTEGER"), ("months", "INTEGER"), ("tasks_failed", "INTEGER"),
                       ("outcome", "VARCHAR")],
    "firms_end": [("firm", "BIGINT"), ("employees", "DOUBLE"), ("age", "INTEGER"),
                  ("specialty", "INTEGER"), ("hub", "BIGINT"), ("formal_network", "BIGINT"),
                  ("revenue_cum", "DOUBLE"), ("degree", "BIGINT"),
                  ("max_partner_share", "DOUBLE")],
    "team_sizes": [("step", "INTEGER"), ("size", "INTEGER"), ("teams", "INTEGER")],
}
RUN_TABLES: tuple[str, ...] = tuple(RUN_TABLE_COLUMNS)


def _frame(name: str, rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[c for c, _ in RUN_TABLE_COLUMNS[name]])


def formal_networks(model: ClusterModel) -> pd.DataFrame:
    month = model.steps
    rows = [{"network": net.id, "members": json.dumps(sorted(net.members)),
             "size": len(net.members), "activities": ",".join(net.activities),
             "formed": net.formed, "last_active": net.last_joint,
             "active_at_end": net.active(month),
             "dissolved": None if net.active(month) else net.last_joint + ACTIVE_WINDOW}
            for net in model.formal_networks.networks]
    return _frame("formal_networks", rows)


def grant_projects(model: ClusterModel) -> pd.DataFrame:
    rows = [{"project": p.id, "policy": p.policy, "members": json.dumps(list(p.members)),
             "size": len(p.members), "broker_prepared": p.broker_prepared, "trust": p.trust,
             "start": p.start, "months": p.months,
             "tasks_failed": getattr(p, "tasks_failed", 0),
             "outcome": p.outcome or "running"}
            for p in model.joint_projects]
    return _frame("grant_projects", rows)


def firms_end(model: ClusterModel) -> pd.DataFrame:
    f = model.firms
    idx = f.alive_indices()
    partners = model.ties.partners
    return pd.DataFrame({
        "firm": idx, "employees": f.employees[idx], "age": model.steps - f.born[idx],
        "specialty": f.specialty[idx], "hub": f.hub[idx],
        "formal_network": f.formal_network[idx], "revenue_cum": f.revenue_cum[idx],
        "degree": np.array([len(partners.get(i, ())) for i in idx.tolist()], dtype=np.int64),
        "max_partner_share": model.partner_revenue.max_share(f.n)[idx],
    })


def team_sizes(model: ClusterModel) -> pd.DataFrame:
    rows = [{"step": step, "size": size, "teams": count}
            for step, counts in model.team_size_history for size, count in sorted(counts.items())]
    return _frame("team_sizes", rows)


BUILDERS = {"formal_networks": formal_networks, "grant_projects": grant_projects,
            "firms_end": firms_end, "team_sizes": team_sizes}


def run_tables(model: ClusterModel, names: tuple[str, ...] | list[str]) -> dict[str, pd.DataFrame]:
    """The asked-for tables of a finished run, by name."""
    return {name: BUILDERS[name](model) for name in names}
