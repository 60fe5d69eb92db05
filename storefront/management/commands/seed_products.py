from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from storefront.models import Product

PRODUCTS = [
    ("Laptop", 99999, "A 14-inch laptop with a full day of battery."),
    ("Mouse", 2999, "A quiet wireless mouse that fits either hand."),
    ("Keyboard", 7999, "A mechanical keyboard with a compact layout."),
]


class Command(BaseCommand):
    help = "Create or update the demo products (never deletes a product)."

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        for name, price_cents, description in PRODUCTS:
            _, created = Product.objects.update_or_create(
                name=name,
                defaults={
                    "price_cents": price_cents,
                    "description": description,
                    "is_active": True,
                },
            )
            verb = "Created" if created else "Updated"
            self.stdout.write(f"{verb} {name}")
