"""The shop's own settings, plus the benchmark's floor views.

Everything that costs time (middleware, session engine, database, templates,
security settings) comes unchanged from ``config.settings``.
"""

from __future__ import annotations

import os

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# collectstatic writes here, so a run never touches the project's staticfiles/.
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", STATIC_ROOT)  # noqa: F405
