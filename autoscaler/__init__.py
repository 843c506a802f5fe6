"""Marathon autoscaler: metric- and schedule-driven instance counts for Marathon apps."""

__version__ = "0.1.0"
