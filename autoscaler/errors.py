"""The project's own exception hierarchy.

Library errors (httpx, prometheus-api-client, YAML) are wrapped in these and chained as __cause__,
so callers handle one family of errors and messages never carry secrets from request objects.
"""

from __future__ import annotations


class AutoscalerError(Exception):
    """Base of every error this service raises on purpose."""


class ConfigurationError(AutoscalerError):
    """A setting is missing or invalid; the service cannot start."""


class TargetError(AutoscalerError):
    """Marathon could not be reached or answered something unusable."""


class TargetAuthError(TargetError):
    """Marathon answered 401: the credentials are missing or wrong."""


class TargetUnavailable(TargetError):
    """Marathon did not answer usefully after the retries allowed within one tick."""


class MetricSourceError(AutoscalerError):
    """A metric source failed for a whole query."""
