"""The records on an order's admin page: its items, problems, refunds, disputes."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class OrderRecordInline(admin.TabularInline):
    """A record of the order: seen by whoever may see the order, never edited."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("payments.view_order")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
