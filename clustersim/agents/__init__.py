"""Mesa agents of clustersim."""

from clustersim.agents.firm import COVER_THRESHOLD, Firm, FirmState

__all__ = ["COVER_THRESHOLD", "Firm", "FirmState"]
