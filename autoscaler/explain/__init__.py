"""`autoscaler explain APP`: why would the service scale this app (or not), right now, in plain words?

An operator asking "why did it (not) scale?" needs every number behind the answer, not a log line.
This reads the app's policy, asks Marathon for the app list (the one `GET /v2/apps` a tick sends),
gathers the app's metric queries as a tick does (`autoscaler.gather`, `autoscaler.series`: once per
source, within the source timeout, each app's series picked out alike), runs the same per-app step
the loop runs (`core.controller`), and writes
the whole decision out: each metric's value and proposal, each clamp in order, the schedule windows
in force and coming, the outcome, and a last sentence answering the question.

It only reads: it never scales, whatever the decision. This is the offline answer: it has no access
to the running service's memory, so it assumes the app has been watched for a full stabilisation
window with steady recommendations, and says so, with everything else it cannot know, in its output.
`autoscaler.preview` asks the running service instead when told where it is.

For a policy with `predictive`, the forecast is computed as the service computes it: each metric's
load history is loaded from its source with range queries (`history.load_history`, over the policy's
lookback), then the same `Forecaster` gives the forecast over the next start-up time plus one tick.
The start-up time is learned by the running service from Marathon's scale-ups (its status API shows
it); explain sees a single snapshot, so it uses the one it is given, else the fallback, and says which.

`offline` finds the decision; `text` writes it out.
"""

from autoscaler.explain.offline import ExplainError, Explanation, explain_app, explain_offline, offline_unknowns

__all__ = ["ExplainError", "Explanation", "explain_app", "explain_offline", "offline_unknowns"]
