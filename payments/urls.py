from __future__ import annotations

from django.urls import path

from payments import order_views, views

app_name = "payments"

urlpatterns = [
    path("checkout/", views.checkout, name="checkout"),
    path(
        "checkout/<uuid:public_id>/",
        views.checkout_continue,
        name="checkout-continue",
    ),
    path("checkout/success/", views.checkout_success, name="success"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
    path("orders/<str:token>/", order_views.order_detail, name="order-detail"),
]
