"""The status server: health, readiness, /metrics, the JSON API and the dashboard, on aiohttp."""
