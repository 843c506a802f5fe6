"""Targets: the systems whose instance counts the autoscaler changes.

`marathon` holds the client the service uses against a real Marathon. The Marathon-compatible
server that the tests and the demo run instead of a cluster is `autoscaler.testing.marathon`.
"""
