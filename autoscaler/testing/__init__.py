"""Fakes of the systems the service talks to, for the tests, the benchmarks and the demo.

`marathon` is a Marathon-compatible HTTP server (`marathon.threaded` runs it on a thread of its own,
for tests that start the service as a process), `prometheus` the one fake Prometheus query API,
`graphite` a fake of Graphite's render API, `memory` in-memory fakes of the loop's ports (a target
and a metric source, no sockets), `clock` the one fake clock, `hostile` a server whose answers
misbehave below and above HTTP, `proxy` a fault-injecting proxy between a client and any of them,
`webhook` an endpoint that records what the notifications and the Graphite events post;
`serving` runs any fake's aiohttp application on a loopback port. They live in the package (not
under tests/) because the demo runs the real loop against them, but nothing in the service itself
may import them: an import-linter contract in pyproject.toml allows only `autoscaler.demo`.
"""
