from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("payments.urls")),
    path("", include("storefront.urls")),
]

handler400 = "storefront.errors.bad_request"
handler403 = "storefront.errors.permission_denied"
handler404 = "storefront.errors.page_not_found"
