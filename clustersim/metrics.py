"""Monthly metrics (docs/ODD.md §8): the columns users see, as DataCollector reporters.

:func:`month_stats` computes every column once a month from the model's arrays and
counters; each DataCollector reporter is a small picklable function that reads one
of them. Network-structure columns come from :mod:`clustersim.networks` (sparse
graph algorithms), every ``outputs.network_metrics_every`` months.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from clustersim import networks
from clustersim.dependence import DEPENDENT_SHARE

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

INNOVATION_COLUMNS = ["innovations", "innovations_cum", "innovating_firms_share", "mean_knowledge"]
SURVIVAL_COLUMNS = ["firms_alive", "exits", "entries", "initial_cohort_survival"]
ECONOMY_COLUMNS = ["orders", "orders_won", "orders_lost_no_partner", "orders_lost_no_capacity",
                   "orders_lost_to_world", "delivery_failures", "revenue", "employment",
                   "capacity_use", "demand_index"]
NETWORK_STRUCTURE_COLUMNS = ["density", "mean_degree", "clustering", "avg_path_length",
                             "largest_component_share", "components", "degree_gini"]
NETWORK_COLUMNS = [*NETWORK_STRUCTURE_COLUMNS, "ties_formed", "ties_dropped", "mean_trust",
                   "mean_team_size"]
MARKET_COLUMNS = ["mean_novelty", "world_benchmark", "shock_active"]
POLICY_COLUMNS = ["formal_networks_active", "formal_network_share", "broker_clients",
                  "policy_spend", "policy_spend_cum", "hub_members", "hub_self_funding_ratio",
                  "hub_service_level", "cost_per_innovation", "joint_projects_started",
                  "joint_projects_succeeded", "joint_projects_active", "tech_transfer_firms"]

# Cooperation types and the response to crisis and opportunity (docs/ODD.md §7.14).
RESPONSE_COLUMNS = ["strangers_searched", "mean_openness", "responding_firms_share",
                    "habitual_share"]

# Firm sizes (F1): whether a right-skewed distribution emerges (docs/ODD.md §7.6).
SIZE_COLUMNS = ["largest_firm", "size_gini"]
# Dependence on one lead (F6, H6; docs/ODD.md §7.13).
DEPENDENCE_COLUMNS = ["max_partner_share_mean", "dependent_firms_share"]
# The export market (docs/ODD.md §7.15).
EXPORT_COLUMNS = ["export_orders", "export_orders_won", "export_revenue", "export_access_share",
                  "early_orders", "early_orders_won"]
# Local rivalry and R&D effort (H4; docs/ODD.md §7.16).
RIVALRY_COLUMNS = ["mean_rd_effort", "mean_rivalry_pressure"]

COLUMNS = [*INNOVATION_COLUMNS, *SURVIVAL_COLUMNS, *ECONOMY_COLUMNS, *NETWORK_COLUMNS,
           *MARKET_COLUMNS, *POLICY_COLUMNS, *RESPONSE_COLUMNS, *SIZE_COLUMNS,
           *DEPENDENCE_COLUMNS, *EXPORT_COLUMNS, *RIVALRY_COLUMNS]
# The month's event counters (``model.month``), recorded as they are.
MONTH_COUNTERS = ("orders", "orders_won", "innovations", "entries", "exits",
                  "orders_lost_no_partner", "orders_lost_no_capacity", "orders_lost_to_world",
                  "delivery_failures")
# Columns summed over the run into ``ClusterModel.totals()``, in the order summaries show them.
RUN_TOTAL_COLUMNS = (*MONTH_COUNTERS[:5], "revenue", *MONTH_COUNTERS[5:], "ties_formed",
                     "ties_dropped")
# Ratios with nothing to divide (no hubs, no innovations yet) are NaN, not 0.
RATIO_COLUMNS = ["hub_self_funding_ratio", "hub_service_level", "cost_per_innovation"]


def read_stat(name: str, model: ClusterModel) -> float:
    """The value of column ``name`` this month."""
    return model.stats[name]


def reporters() -> dict[str, partial]:
    """DataCollector model reporters, one per column (partials: picklable, unlike lambdas)."""
    return {name: partial(read_stat, name) for name in COLUMNS}


def month_stats(model: ClusterModel) -> dict[str, float]:
    """Every column for the month just finished (month 0: the initial state)."""
    f = model.firms
    n = f.n
    live = f.alive[:n]
    alive_count = int(live.sum())
    month = model.month
    previous = model.stats
    employees = f.employees[:n][live]
    stats: dict[str, float] = {
        **{name: int(month[name]) for name in MONTH_COUNTERS},
        "innovations_cum": int(previous.get("innovations_cum", 0) + month["innovations"]),
        "innovating_firms_share": _share(live & (f.last_innovation[:n] > model.steps - 12), alive_count),
        "mean_knowledge": float(f.knowledge[:n][live].mean()) if alive_count else 0.0,
        "firms_alive": alive_count,
        "initial_cohort_survival": float(live[: model.initial_cohort].sum() / model.initial_cohort),
        "revenue": float(model.ledger["customer_payments"]),
        "employment": float(employees.sum()),
        "largest_firm": float(employees.max()) if alive_count else 0.0,
        "size_gini": networks.gini(employees),
        "capacity_use": float(f.load[:n][live].sum() / employees.sum()) if alive_count else 0.0,
        "demand_index": model.market.demand_index(),
        # network
        "ties_formed": int(model.ties.formed),
        "ties_dropped": int(model.ties.dropped),
        "mean_trust": float(np.mean(model.ties.edges()[2])) if len(model.ties) else 0.0,
        "mean_team_size": float(np.mean(model.team_sizes)) if model.team_sizes else 0.0,
        # market
        # over open segments (a closed new segment keeps its arrays with base rate 0)
        "mean_novelty": float(model.market.novelty[model.market.base_rate > 0].mean()),
        "world_benchmark": float(model.market.benchmark[model.market.base_rate > 0].mean()),
    }
    stats.update(dependence_stats(model, live, alive_count))
    access = model.teams.export_access if hasattr(model.teams, "export_access") else None
    stats.update({
        "export_orders": int(month["export_orders"]),
        "export_orders_won": int(month["export_orders_won"]),
        "export_revenue": float(month["export_revenue"]),
        "export_access_share": (_share(live[: len(access)] & access, alive_count)
                                if access is not None else 0.0),
        "early_orders": int(month["early_orders"]),
        "early_orders_won": int(month["early_orders_won"]),
    })
    stats.update(rivalry_stats(model, live, alive_count))
    stats.update(policy_stats(model, live, alive_count, stats["innovations_cum"]))
    stats.update(response_stats(model, live, alive_count))
    every = model.scenario.outputs.network_metrics_every
    if model.steps % every == 0 or not previous:
        stats.update(network_structure(model))
    else:
        stats.update({k: previous[k] for k in NETWORK_STRUCTURE_COLUMNS})
    return stats


def rivalry_stats(model: ClusterModel, live: np.ndarray, alive_count: int) -> dict[str, float]:
    """Living firms' mean R&D effort (1 without a rivalry response) and rivalry pressure
    (0 without one), docs/ODD.md §7.16."""
    effort = model._rd_effort
    if effort is None or not alive_count:
        return {"mean_rd_effort": 1.0, "mean_rivalry_pressure": 0.0}
    n = len(effort)
    return {"mean_rd_effort": float(effort[live[:n]].mean()),
            "mean_rivalry_pressure": float(model.firms.rivalry_pressure[:n][live[:n]].mean())}


def response_stats(model: ClusterModel, live: np.ndarray, alive_count: int) -> dict[str, float]:
    """Strangers looked at this month; living firms' openness and habit (docs/ODD.md §7.14).

    A firm *responds* when its openness is at least one half: the gain it sees in new
    partners clears its hurdle more often than not.
    """
    f = model.firms
    openness = f.openness[: f.n][live]
    return {
        "strangers_searched": int(model.teams.strangers_searched),
        "mean_openness": float(openness.mean()) if alive_count else 0.0,
        "responding_firms_share": _share(openness >= 0.5, alive_count),
        "habitual_share": _share(f.habitual[: f.n][live], alive_count),
    }


def dependence_stats(model: ClusterModel, live: np.ndarray, alive_count: int) -> dict[str, float]:
    """Mean largest share of output from one lead (firms with output), and the share of
    living firms above 30% of it (docs/ODD.md §7.13)."""
    revenue = model.partner_revenue
    share = revenue.max_share(model.firms.n)
    earning = live & (revenue.output_of(model.firms.n) > 0)
    return {
        "max_partner_share_mean": float(share[earning].mean()) if earning.any() else 0.0,
        "dependent_firms_share": _share(live & (share > DEPENDENT_SHARE), alive_count),
    }


def policy_stats(model: ClusterModel, live: np.ndarray, alive_count: int,
                 innovations_cum: int) -> dict[str, float]:
    """Shocks, formal networks, policy money, hubs and joint projects this month."""
    f = model.firms
    n = f.n
    month = model.steps
    ledger = model.institution.ledger
    active = model.formal_networks.active(month)
    in_active = sum(len(net.members) for net in active)
    hubs = model.hubs
    fees = sum(hub.fees_month for hub in hubs)
    costs = sum(hub.cost_month for hub in hubs)
    return {
        "shock_active": int(any(shock.active(month) for shock in model.shocks)),
        "formal_networks_active": len(active),
        "formal_network_share": in_active / alive_count if alive_count else 0.0,
        "broker_clients": int(sum(len(b.clients) for p in model.policies
                                  for b in getattr(p, "brokers", ()))),
        "policy_spend": float(ledger.spent_this_month),
        "policy_spend_cum": float(ledger.spent_total),
        "hub_members": int((live & (f.hub[:n] >= 0)).sum()),
        "hub_self_funding_ratio": fees / costs if costs > 0 else float("nan"),
        "hub_service_level": (float(np.mean([hub.service_level for hub in hubs]))
                              if hubs else float("nan")),
        "cost_per_innovation": (ledger.spent_total / innovations_cum
                                if innovations_cum and ledger.spent_total else float("nan")),
        "joint_projects_started": int(model.month["joint_projects_started"]),
        "joint_projects_succeeded": int(model.month["joint_projects_succeeded"]),
        "joint_projects_active": int(sum(1 for p in model.joint_projects if p.running)),
        "tech_transfer_firms": int(sum(getattr(p, "transferred_month", 0) for p in model.policies)),
    }


def network_structure(model: ClusterModel) -> dict[str, float]:
    """Density, degree, clustering, path length and components of the living firms' ties."""
    f = model.firms
    idx = f.alive_indices()
    position = np.full(f.n, -1, dtype=np.int64)
    position[idx] = np.arange(len(idx))
    u, v, _trust = model.ties.edges()
    outputs = model.scenario.outputs
    values = networks.tie_metrics(len(idx), position[u], position[v],
                                  path_sources=outputs.path_length_sources,
                                  clustering_sample=outputs.clustering_sample,
                                  rng=model.metrics_rng)
    return {k: values[k] for k in NETWORK_STRUCTURE_COLUMNS}


def _share(mask: np.ndarray, total: int) -> float:
    return float(mask.sum() / total) if total else 0.0
