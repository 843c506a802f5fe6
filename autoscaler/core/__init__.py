"""The decision engine: pure functions from (policy, state, observations, history, now) to a Decision.

Nothing in this package performs I/O, reads the clock, or imports anything of ours outside it;
an import-linter contract enforces that. Everything the live loop, the simulator, the status page and
`explain` say about a decision comes from here.
"""
