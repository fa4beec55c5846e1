"""Mesa agents of clustersim."""

from clustersim.agents.firm import COVER_THRESHOLD, Firm, FirmState
from clustersim.agents.institution import Institution

__all__ = ["COVER_THRESHOLD", "Firm", "FirmState", "Institution"]
