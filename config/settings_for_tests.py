"""The settings the test suite runs with: the project's, with DEBUG on.

DEBUG defaults to off (production), so the tests ask for it explicitly, as
``scripts/run`` does. ``setdefault``: a run that exports DEBUG=false gets the
production settings. The variable is set before config.settings reads the
environment, and the servers and workers the tests start inherit it.
"""

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: E402, F403
