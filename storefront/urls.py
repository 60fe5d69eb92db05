from __future__ import annotations

from django.contrib.sitemaps.views import sitemap
from django.urls import path

from storefront import views
from storefront.sitemaps import SITEMAPS

app_name = "storefront"

urlpatterns = [
    path("", views.index, name="index"),
    path("products/<slug:slug>/", views.product_detail, name="product"),
    path("cart/", views.cart_detail, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/update/", views.cart_update, name="cart-update"),
    path("cart/remove/", views.cart_remove, name="cart-remove"),
    path("sitemap.xml", sitemap, {"sitemaps": SITEMAPS}, name="sitemap"),
    path("robots.txt", views.robots_txt, name="robots"),
]
