"""What the running service knows about itself: the status store and the per-app trends it keeps.

`store` holds the ServiceStatus the loop records every tick into and the status server reads;
`trends` the compact per-app trend of instances and load, and the recent scale actions.
"""

from autoscaler.sinks.status.store import DEFAULT_HISTORY, Role, ServiceStatus, StatusSnapshot
from autoscaler.sinks.status.trends import ScaleAction

__all__ = ["DEFAULT_HISTORY", "Role", "ScaleAction", "ServiceStatus", "StatusSnapshot"]
