"""The sinks: everything that reads the loop's tick reports and tells someone.

Each sink reads `autoscaler.reports` and nothing of the loop, and none imports another (an
import-linter independence contract): `status` (what the status API and readiness show), `selfmetrics`
(the service's own Prometheus metrics), `notify` (chat webhooks) and `events` (Graphite events). The
machinery the outbound ones share (outbox, rate limit, scrubbing, JSON POST) is `autoscaler.delivery`.

A new consumer of tick reports goes here as its own module, is built from the settings in
`autoscaler.wiring`, wired in `autoscaler.app` and fed from the service's `on_tick`; it joins the
independence contract in pyproject.toml.
"""
