"""Fakes of the systems the service talks to, for the tests, the benchmarks and the demo.

`marathon` is a Marathon-compatible HTTP server, `prometheus` the one fake Prometheus query API,
`graphite` a fake of Graphite's render API, `clock` the one fake clock; `serving` runs any fake's
aiohttp application on a loopback port. They live in the package (not under tests/) because the demo runs the real loop
against them, but nothing in the service itself may import them: an import-linter contract in
pyproject.toml allows only `autoscaler.demo`.
"""
