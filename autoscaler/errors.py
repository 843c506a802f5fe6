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


class WireError(AutoscalerError):
    """An answer from outside cannot be used as it is: too large, nested too deeply, or not JSON.

    The message names what was being read and the limit that was hit, never the answer's content.
    """


class ResponseTooLarge(WireError):
    """An answer's body is larger than the configured byte limit; reading stopped at the limit."""


class NotJSON(WireError):
    """An answer's body is not JSON at all (an HTML error page, a truncated body, binary data)."""
