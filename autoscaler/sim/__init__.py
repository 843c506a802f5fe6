"""Replaying traffic through the decision engine: the fleet model, baselines and the simulator.

Everything here drives the same `core.decide` as the live loop; nothing here does network I/O.
"""
