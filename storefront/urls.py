from __future__ import annotations

from django.urls import path

from storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.index, name="index"),
    path("cart/", views.cart_detail, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/update/", views.cart_update, name="cart-update"),
    path("cart/remove/", views.cart_remove, name="cart-remove"),
]
