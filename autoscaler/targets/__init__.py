"""Targets: the systems whose instance counts the autoscaler changes.

`marathon` holds the client the service uses against a real Marathon; `fake_marathon` is a small
Marathon-compatible HTTP server that the tests and the demo run instead of a cluster.
"""
