"""Local rivalry and R&D effort (docs/ODD.md §7.16; H4 in docs/DOMAIN.md).

Porter's argument (003:L2220-2235): firms in one locale face the same costs, so they
compete by innovating; a firm that sees its local rivals ahead technically pushes harder.
Bosworth and Rosenfeld's "designated cooperators" (003:L1885-1896) are a network rule
that can dampen this: members stop treating each other as rivals.

With ``learning.rivalry_response`` ψ > 0, a firm's R&D effort this month is

    e_i = 1 + ψ P_i,

where the rivalry pressure P_i is the share of its rivals (living firms of the same
specialty in the region) whose knowledge is above its own. Effort multiplies both what
R&D costs (§7.3) and the share of the gap to the frontier it closes (§7.4).

With ``learning.rivalry_norm = "dampen"`` the members of one network (an active formal
network, or the fixed network in static mode) stop counting each other as rivals: each
member measures itself by its network's best member of the same specialty, so a member
feels the pressure of the rivals outside only. Nothing else changes: whether the network
then innovates less comes from the R&D it no longer pays for (cash, survival), the
spillovers inside its teams, and the frontier the world keeps raising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def pressure(specialty: np.ndarray, knowledge: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """P_i: the share of firm i's rivals (same specialty, alive) with more knowledge.

    Vectorised: firms are ranked by knowledge (dense ranks, so equal knowledge is not
    "ahead"), keyed by specialty × ranks + rank and sorted once; the firms ahead of i are
    those after its key within its specialty. 0 for the dead and for a firm alone in its
    specialty.
    """
    n = len(alive)
    out = np.zeros(n)
    idx = np.flatnonzero(alive)
    if len(idx) < 2:
        return out
    _, rank = np.unique(knowledge[idx], return_inverse=True)
    width = int(rank.max()) + 1
    spec = specialty[idx].astype(np.int64)
    keys = spec * width + rank
    sorted_keys = np.sort(keys)
    ahead = (np.searchsorted(sorted_keys, (spec + 1) * width, side="left")
             - np.searchsorted(sorted_keys, keys, side="right"))
    rivals = np.bincount(spec, minlength=int(spec.max()) + 1)[spec] - 1
    out[idx] = np.where(rivals > 0, ahead / np.maximum(rivals, 1), 0.0)
    return out


def network_of(model: ClusterModel) -> np.ndarray:
    """Each firm's network for the rivalry norm: its active formal network, else (static
    mode) its fixed network; −1 for a firm in neither. Formal networks are numbered after
    the fixed ones so that the two never share an id."""
    f = model.firms
    n = f.n
    net = np.full(n, -1, dtype=np.int64)
    offset = 0
    if model.static_mode:
        net[:] = f.network[:n]
        offset = int(net.max()) + 1 if n else 0
    for network in model.formal_networks.active(model.steps):
        net[network.members] = offset + network.id
    return net


def dampen(p: np.ndarray, specialty: np.ndarray, network: np.ndarray,
           alive: np.ndarray) -> np.ndarray:
    """Members of one network take the pressure of their network's best member of their
    specialty (the lowest P in the group): co-members are designated cooperators."""
    inside = np.flatnonzero(alive & (network >= 0))
    if len(inside) == 0:
        return p
    groups = network[inside] * (int(specialty.max()) + 1) + specialty[inside]
    _, group = np.unique(groups, return_inverse=True)
    best = np.full(int(group.max()) + 1, np.inf)
    np.minimum.at(best, group, p[inside])
    out = p.copy()
    out[inside] = best[group]
    return out


def rd_effort(model: ClusterModel) -> np.ndarray | None:
    """This month's R&D effort e_i = 1 + ψ P_i (stored in ``firms.rivalry_pressure``);
    None when the rivalry response is off, so nothing changes and nothing is computed."""
    learn = model.scenario.learning
    if learn.rivalry_response <= 0:
        return None
    f = model.firms
    n = f.n
    alive = f.alive[:n]
    specialty = f.specialty[:n]
    p = pressure(specialty, f.knowledge[:n], alive)
    if learn.rivalry_norm == "dampen":
        p = dampen(p, specialty, network_of(model), alive)
    f.rivalry_pressure[:n] = p
    return 1.0 + learn.rivalry_response * p
