from __future__ import annotations

from django.urls import path

from bench import views
from config.urls import urlpatterns as shop_urlpatterns

urlpatterns = [
    path("_bench/bare-floor/", views.bare_floor),
    path("_bench/session-floor/", views.session_floor),
    *shop_urlpatterns,
]
