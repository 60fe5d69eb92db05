"""Stock: units free to sell, units held by open checkouts, units sold.

A product counts its stock or it does not (``Product.stock`` is ``None``). For
one that does, ``stock`` is the units free to sell, ``reserved`` those held by
checkouts not yet paid, and ``sold`` those paid for; only this module moves
units between them, each time with one UPDATE that adds to one column what it
takes from another.

- Checkout reserves the cart's quantities in the transaction that creates the
  order: ``stock_reserve``, a conditional UPDATE that only succeeds while enough
  is free, so two shoppers can never both get the last unit. The loser hears of
  it before paying.
- The order's status change settles the reservation, once per order (payments'
  ``order_transition`` moves an order out of PENDING once): paid, the units are
  sold (``stock_sell``); failed or expired, they are free again
  (``stock_release``).
- A refunded order's units can go back on sale, when the admin says so
  (``stock_restock``): sold units become free ones again.

Rows are always changed in product-id order, so two checkouts that share
products lock them in the same order and cannot deadlock (PostgreSQL); SQLite
takes one write lock for the whole transaction anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F

from storefront.models import Product


@dataclass(frozen=True)
class Shortage:
    product_id: int
    name: str
    wanted: int
    available: int


class StockShortage(Exception):
    """Some of a cart's quantities are no longer free to sell."""

    def __init__(self, shortages: list[Shortage]) -> None:
        self.shortages = shortages
        super().__init__(self.message)

    @property
    def message(self) -> str:
        parts = [
            f"only {shortage.available} {shortage.name} left"
            if shortage.available
            else f"{shortage.name} is sold out"
            for shortage in self.shortages
        ]
        said = "; ".join(parts)
        return (
            f"{said[0].upper()}{said[1:]}: we changed your cart to match, and "
            "nothing was charged. Please check your cart and check out again."
        )

    @property
    def available(self) -> dict[int, int]:
        return {shortage.product_id: shortage.available for shortage in self.shortages}


def stock_reserve(quantities: Mapping[int, int]) -> set[int]:
    """Hold these quantities of products that count stock; return the ids held.

    Pass the products that counted their stock when the cart was read: one
    that has stopped counting since is not held. Call it inside the transaction
    that records what the units are held for: on a shortage it raises
    ``StockShortage`` after holding some units, and the caller's transaction
    must roll back.
    """
    held: set[int] = set()
    missed: list[int] = []
    for product_id in sorted(quantities):
        quantity = quantities[product_id]
        updated = Product.objects.filter(pk=product_id, stock__gte=quantity).update(
            stock=F("stock") - quantity, reserved=F("reserved") + quantity
        )
        if updated:
            held.add(product_id)
        else:
            missed.append(product_id)
    if not missed:
        return held
    shortages = [
        Shortage(
            product_id=product.pk,
            name=product.name,
            wanted=quantities[product.pk],
            available=product.stock,
        )
        for product in Product.objects.filter(pk__in=missed, stock__isnull=False).only(
            "name", "stock"
        )
    ]
    if shortages:
        raise StockShortage(shortages)
    return held


def stock_move(
    quantities: Mapping[int, int], *, source: str, target: str, whole: bool = False
) -> None:
    """Move units from one column to another, one UPDATE a product, in id order.

    With ``whole``, a product that has fewer than the quantity in ``source`` is
    left as it is.
    """
    for product_id in sorted(quantities):
        quantity = quantities[product_id]
        products = Product.objects.filter(pk=product_id)
        if whole:
            products = products.filter(**{f"{source}__gte": quantity})
        products.update(**{source: F(source) - quantity, target: F(target) + quantity})


def stock_sell(quantities: Mapping[int, int]) -> None:
    """Turn held units into sold ones (an order was paid)."""
    stock_move(quantities, source="reserved", target="sold")


def stock_release(quantities: Mapping[int, int]) -> None:
    """Free held units again (an order failed or expired).

    A product that stopped counting its stock meanwhile keeps ``stock`` empty.
    """
    stock_move(quantities, source="reserved", target="stock")


def stock_restock(quantities: Mapping[int, int]) -> None:
    """Put sold units back on sale (a refunded order's goods came back).

    A product that stopped counting its stock meanwhile keeps ``stock`` empty.
    """
    stock_move(quantities, source="sold", target="stock", whole=True)


def available(product: Product, *, held: int = 0) -> int | None:
    """Return how many units a cart may hold, or None when stock is not counted.

    ``held``: units the cart already has, which are never taken away by a
    change to another product or a lower stock count (checkout checks them).
    """
    if product.stock is None:
        return None
    return max(product.stock, held)


def stock_note(stock: int | None) -> str:
    """Return what a shopper is told about a product's stock ("" for plenty)."""
    if stock is None:
        return ""
    if stock == 0:
        return "Sold out"
    if stock <= settings.SHOP_LOW_STOCK_THRESHOLD:
        return f"Only {stock} left"
    return ""
