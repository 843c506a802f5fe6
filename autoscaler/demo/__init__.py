"""The embedded default: a self-contained demo of the real control loop.

`autoscaler demo` starts a Marathon-compatible server with example apps and a Prometheus-compatible
metrics endpoint whose values come from a real request trace replayed in compressed time, then runs
the real loop over HTTP against both and shows what it does, live.
"""
