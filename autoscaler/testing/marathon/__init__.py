"""The Marathon-compatible server: `FakeMarathon` (HTTP, test controls), its state and JSON shapes.

Run it by hand with `python -m autoscaler.testing.marathon --port 8080 --apps-file apps.json`.
"""

from autoscaler.testing.marathon.server import MAX_BODY_BYTES, FakeMarathon, RecordedRequest
from autoscaler.testing.marathon.state import ExtraFieldsUpdate

__all__ = ["MAX_BODY_BYTES", "ExtraFieldsUpdate", "FakeMarathon", "RecordedRequest"]
