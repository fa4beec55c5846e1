"""Mesa agents of clustersim."""

from clustersim.agents.broker import Broker
from clustersim.agents.firm import COVER_THRESHOLD, Firm, FirmState
from clustersim.agents.hub import ServiceHub
from clustersim.agents.institution import Institution

__all__ = ["COVER_THRESHOLD", "Broker", "Firm", "FirmState", "Institution", "ServiceHub"]
