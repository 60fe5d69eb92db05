"""Records in the admin: viewable, never added, changed or deleted there."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Viewable, never added, changed or deleted: a record of what happened."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class OrderRecordInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A record on an order's page (items, problems, refunds, disputes): seen by
    whoever may see the order."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("payments.view_order")
