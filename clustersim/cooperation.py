"""Cooperation types and firms' response to crisis and opportunity (docs/ODD.md §7.14, H11).

Cameron: "In economies with strong traditions of business cooperation, the appearance of
a business opportunity may itself be enough to engender network activity. In North
America, something more is usually required — a shared perception of competitive
crisis" (003:L3257-3262). The model does not write that sentence into a rule. It gives
firms two traits and one response rule that is the same for every firm, and lets the
sentence come out of the month, or not:

* **Types** (``region.habitual_cooperators``). Habitual cooperators treat cooperation as
  "an entrenched way of looking at business opportunities" (003:L394-398); opportunists
  cooperate when it pays (003:L3669-3673, L3121-3127). The types differ only in the mean
  of their cooperativeness (trust gain and decay, docs/ODD.md §7.5) and so, unless it is
  drawn apart, in their willingness to look for strangers.
* **Search willingness** (``region.search_willingness``): the chance that a lead looks
  beyond the partners it knows (docs/ODD.md §7.2). By default it *is* the firm's
  cooperativeness; drawn apart, it separates looking for partners from trusting them.
* **Openness** (``[response]``): each month a firm sees a change in its business, a
  lagged fall in revenue (the threat; boiled frog, 003:L3070, L3264-3265) or a rise (an
  upswing, a new segment: more business than it can take alone, "Who will I have to work
  with in order to pursue this opportunity?", 003:L2357-2358). Either makes new partners
  worth more than their cost in time and risk, the "early payback" owners ask for
  (003:L3283-3287): a crisis lowers the value of going alone, an opportunity raises the
  value of partners. Openness o = min(1, sensitivity × (crisis_weight × threat +
  opportunity_weight × opportunity)) is the chance that this gain clears the firm's
  hurdle. A lead that would not have looked for strangers out of its own willingness s
  now does so with chance o: search chance = s + (1 − s) o. Habitual cooperators already
  search, so the same rule leaves them little to add; opportunists have much to add.
  Whether a crisis or an opportunity then forms more ties, and in which region, is
  measured, not assumed (``experiments/crisis_trigger_h11.toml``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clustersim.agents.firm import FirmState
    from clustersim.scenario import RegionConfig, ResponseConfig

# Exponential revenue averages of docs/ODD.md §7.6: this month counts 1/3 and 1/12.
FAST_KEEP, SLOW_KEEP = 2.0 / 3.0, 11.0 / 12.0


def draw_cooperation(cfg: RegionConfig, rng: np.random.Generator,
                     n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cooperativeness, habit (bool) and search willingness of ``n`` new firms.

    Without types (``habitual_cooperators`` None) this is the one normal draw
    clip(N(cooperativeness, sd)) every firm has always had, with the same calls on the
    generator, so runs without the switch are unchanged bit for bit. With types, a firm
    is habitual with chance ``habitual_cooperators`` and draws its cooperativeness
    around its type's mean. Search willingness equals cooperativeness unless
    ``search_willingness`` gives it a regional mean of its own.
    """
    sd = cfg.cooperativeness_sd
    if cfg.habitual_cooperators is None:
        habitual = np.zeros(n, dtype=bool)
        coop = np.clip(rng.normal(cfg.cooperativeness, sd, size=n), 0.0, 1.0)
    else:
        habitual = rng.random(n) < cfg.habitual_cooperators
        mean = np.where(habitual, cfg.habitual_cooperativeness, cfg.opportunist_cooperativeness)
        coop = np.clip(rng.normal(mean, sd), 0.0, 1.0)
    if cfg.search_willingness is None:
        search = coop.copy()
    else:
        search = np.clip(rng.normal(cfg.search_willingness, sd, size=n), 0.0, 1.0)
    return coop, habitual, search


def opportunity(firms: FirmState, month: int) -> np.ndarray:
    """Each firm's perceived opportunity: how far its recent revenue runs above its trend.

    clip(R̂_fast / R̂_slow − 1, 0, 1), the mirror image of the threat signal, without the
    threat's lag: a rise shows at once as orders in hand, a gradual fall is noticed late
    (003:L3070). The averages start at 0 at a firm's birth, so both are divided by the
    weight they have gathered since, 1 − keep^k after k updates (otherwise every young
    firm would read its first months as a boom).
    """
    n = firms.n
    updates = np.maximum(month - 1 - firms.born[:n], 0)
    fast = firms.revenue_fast[:n] / np.maximum(1.0 - FAST_KEEP ** updates, 1e-12)
    slow = firms.revenue_slow[:n] / np.maximum(1.0 - SLOW_KEEP ** updates, 1e-12)
    ratio = np.divide(fast, slow, out=np.ones(n), where=(slow > 1e-9) & (updates > 0))
    return np.clip(ratio - 1.0, 0.0, 1.0)


def openness(firms: FirmState, month: int, cfg: ResponseConfig) -> np.ndarray:
    """The chance that the gain a firm sees in new partners this month clears its hurdle."""
    n = firms.n
    seen = cfg.crisis_weight * firms.threat[:n] + cfg.opportunity_weight * opportunity(firms, month)
    return np.where(firms.alive[:n], np.minimum(1.0, cfg.sensitivity * seen), 0.0)


def joining_factor(firms: FirmState, idx: np.ndarray | slice,
                   cfg: ResponseConfig) -> np.ndarray | float:
    """× on the chance to join a hub or a broker's caseload: open firms are readier to join.

    1.0 (no change) while the response is off.
    """
    if not cfg.enabled:
        return 1.0
    return 1.0 + cfg.join_lift * firms.openness[idx]
