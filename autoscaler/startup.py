"""The start-up time tracker's former home: it is pure and now lives in `autoscaler.core.startup`.

Kept only while the service's own modules still import it from here.
"""

from autoscaler.core.startup import DEFAULT_GIVE_UP, DEFAULT_KEEP, MAX_OPEN, StartupEstimate, StartupTracker

__all__ = ["DEFAULT_GIVE_UP", "DEFAULT_KEEP", "MAX_OPEN", "StartupEstimate", "StartupTracker"]
