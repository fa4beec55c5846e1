"""Who a programme supports: open calls, or support aimed at some firms (docs/ODD.md §7.8).

Analysts compare who gets public money as well as what it does (003:L3412 on impartial
brokers; 003:L1968-1992 on open calls). A programme's ``targeting`` narrows the firms it may
support, each month or call, among those it could support anyway:

* ``open``: no narrowing (the programme's own rules alone);
* ``central``: firms in the top quarter of living firms by ties (degree);
* ``peripheral``: firms in the bottom quarter by ties;
* ``small_firms``: firms with fewer than 10 employees (micro firms);
* ``spread``: firms the programme has not supported before (challenge grants: never a member
  of one of its funded projects; brokers: never one of its clients), so money reaches as many
  firms as it can.

Every payment to a firm records the programme's targeting and the firm's ties and employees at
the time (the payments table), so who was supported can be compared between arms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clustersim.config.policies import Targeting

__all__ = ["SMALL_FIRM_EMPLOYEES", "Targeting", "degrees", "targeted"]

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

SMALL_FIRM_EMPLOYEES = 10.0  # micro firms: fewer than 10 employees
QUARTILE = 0.25


def degrees(model: ClusterModel) -> np.ndarray:
    """Ties per firm, firms 0..n−1."""
    partners = model.ties.partners
    return np.array([len(partners.get(i, ())) for i in range(model.firms.n)], dtype=np.int64)


def targeted(model: ClusterModel, allowed: np.ndarray, mode: str,
             supported: set[int] | frozenset[int] = frozenset()) -> np.ndarray:
    """The firms of ``allowed`` (a boolean mask) the programme may support under ``mode``."""
    if mode == "open":
        return allowed
    f = model.firms
    n = f.n
    live = f.alive[:n]
    if mode in ("central", "peripheral"):
        degree = degrees(model)
        if not live.any():
            return allowed & False
        if mode == "central":
            return allowed & (degree >= np.quantile(degree[live], 1.0 - QUARTILE))
        return allowed & (degree <= np.quantile(degree[live], QUARTILE))
    if mode == "small_firms":
        return allowed & (f.employees[:n] < SMALL_FIRM_EMPLOYEES)
    if mode == "spread":
        out = allowed.copy()
        out[[i for i in supported if i < n]] = False
        return out
    raise ValueError(f"unknown targeting {mode!r}")
