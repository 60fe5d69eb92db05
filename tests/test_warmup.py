from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.template import engines

from config.warmup import warm_up


def cached_template_names() -> set[str]:
    """Return the names the cached template loader holds compiled."""
    [partials_loader] = engines["django"].engine.template_loaders
    [cached_loader] = partials_loader.loaders
    return set(cached_loader.get_template_cache)


def test_warm_up_compiles_every_project_template():
    [directory] = settings.TEMPLATES[0]["DIRS"]
    names = {
        path.relative_to(directory).as_posix()
        for path in Path(directory).rglob("*.html")
    }
    engines["django"].engine.template_loaders[0].reset()

    warm_up()

    assert "storefront/index.html" in names
    assert names <= cached_template_names()
