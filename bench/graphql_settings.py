"""Settings of the site served by ``bench.graphql_submit``: the project's own,
with quotas that never refuse (the benchmark submits far more than a person
may), so the figure is the cost of a submission, not of a refusal."""

from config.settings import *  # noqa: F403 - the project's settings, two changed

JOBS_SUBMISSIONS_PER_MINUTE = 10**9
"""Still counted in Redis per request, as in production; never reached."""
JOBS_MAX_UNFINISHED = 0
"""Off: with no worker running, counting a person's unfinished rows would
grow with every submission and measure the backlog, not the submission."""
