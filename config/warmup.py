"""Load at start-up what a process would otherwise load on its first requests.

gunicorn loads the app once, in its master (``preload_app``), and forks the
workers from it; a worker recycled after ``max_requests`` is a new fork. What
is loaded here before the fork, every worker starts with: the URL resolver's
tables and the project's compiled templates. Without it each new worker would
spend its first requests compiling them while the requests queued behind it
waited (docs/PERFORMANCE.md has the figures).

Nothing here opens a database connection, which a fork must not share.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template import engines
from django.urls import reverse


def warm_up() -> None:
    """Build the URL resolver and compile every template of the project."""
    reverse("storefront:index")
    engine = engines["django"]
    for directory in settings.TEMPLATES[0]["DIRS"]:
        for path in sorted(Path(directory).rglob("*.html")):
            engine.get_template(path.relative_to(directory).as_posix())
