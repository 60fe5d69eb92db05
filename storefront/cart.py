"""The shopping cart: product ids and quantities in the shopper's session.

The session holds nothing but ``{"<product id>": quantity}``. Names and prices are
read from the database every time the cart is shown, so a price can never come
from the client and a price change shows at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import connection

from storefront.models import Product

# What a cart line shows and checks; the rest of a product stays in the database.
# In the model's order, as Model.from_db() takes a row's values.
CART_PRODUCT_FIELDS = ("id", "name", "price_cents", "is_active")


class CartError(Exception):
    """A change the cart refuses; the message is shown to the shopper."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def line_total_cents(self) -> int:
        return self.product.price_cents * self.quantity


@dataclass(frozen=True)
class CartContents:
    """What the cart holds right now, priced from the database."""

    lines: list[CartLine] = field(default_factory=list)
    # Names of products that are no longer sold and were taken out of the cart.
    removed: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[CartLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def total_cents(self) -> int:
        return sum(line.line_total_cents for line in self.lines)

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)


class Cart:
    """A cart stored in ``request.session`` under one key."""

    session_key = "cart"

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        self.max_quantity: int = settings.CART_MAX_QUANTITY
        self.max_lines: int = settings.CART_MAX_LINES
        self._quantities = self._load()
        # The products this request has read, by id; None for an id with no
        # product. Each id is read once.
        self._products: dict[int, Product | None] = {}

    def _load(self) -> dict[int, int]:
        """Return the stored quantities, skipping anything malformed."""
        stored = self.session.get(self.session_key)
        if not isinstance(stored, dict):
            return {}
        quantities: dict[int, int] = {}
        for key, quantity in stored.items():
            if (
                isinstance(key, str)
                and key.isascii()
                and key.isdigit()
                and type(quantity) is int
                and 1 <= quantity <= self.max_quantity
            ):
                quantities[int(key)] = quantity
            if len(quantities) == self.max_lines:
                break
        return quantities

    def _save(self) -> None:
        self.session[self.session_key] = {
            str(product_id): quantity
            for product_id, quantity in self._quantities.items()
        }

    @property
    def quantities(self) -> dict[int, int]:
        return dict(self._quantities)

    @property
    def count(self) -> int:
        """Return the number of items, without touching the database."""
        return sum(self._quantities.values())

    def __len__(self) -> int:
        return len(self._quantities)

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._quantities

    def add(self, *, product: Product, quantity: int = 1) -> None:
        """Add a quantity of a product, within the cart's limits."""
        self._check_quantity(quantity)
        current = self._quantities.get(product.pk, 0)
        if not current and len(self._quantities) >= self.max_lines:
            raise CartError(
                f"Your cart can hold at most {self.max_lines} different products."
            )
        if current + quantity > self.max_quantity:
            raise CartError(
                f"You can have at most {self.max_quantity} of {product.name} in "
                f"your cart; it already holds {current}."
            )
        self._quantities[product.pk] = current + quantity
        self._save()

    def set_quantity(self, *, product: Product, quantity: int) -> None:
        """Set the quantity of a product that is already in the cart."""
        if product.pk not in self._quantities:
            raise CartError(f"{product.name} is not in your cart.")
        self._check_quantity(quantity)
        self._quantities[product.pk] = quantity
        self._save()

    def remove(self, *, product_id: int) -> None:
        """Take a product out of the cart."""
        if product_id not in self._quantities:
            raise CartError("That item is not in your cart.")
        del self._quantities[product_id]
        self._save()

    def clear(self) -> None:
        """Empty the cart."""
        self._quantities = {}
        self.session.pop(self.session_key, None)

    def product_on_sale(self, product_id: int) -> Product | None:
        """Return the product with this id if it is on sale, else None.

        It is read in one query with the cart's own products, which the answer
        to a cart change shows next.
        """
        products = self._products_read({*self._quantities, product_id})
        product = products.get(product_id)
        return product if product is not None and product.is_active else None

    def contents(self) -> CartContents:
        """Return the cart's lines with current prices, in one query at most.

        Products that were deactivated or deleted leave the cart, and their names
        are reported so the shopper can be told.
        """
        if not self._quantities:
            return CartContents()
        products = self._products_read(set(self._quantities))
        lines: list[CartLine] = []
        removed: list[str] = []
        for product_id, quantity in self._quantities.items():
            product = products.get(product_id)
            if product is not None and product.is_active:
                lines.append(CartLine(product=product, quantity=quantity))
            else:
                removed.append(product.name if product else "An item")
        if removed:
            self._quantities = {line.product.pk: line.quantity for line in lines}
            self._save()
        return CartContents(lines=lines, removed=removed)

    def _products_read(self, product_ids: set[int]) -> dict[int, Product | None]:
        """Return these products by id, reading only those not read before."""
        missing = sorted(product_ids - self._products.keys())
        if missing:
            with connection.cursor() as cursor:
                cursor.execute(_products_statement(len(missing)), missing)
                found = {
                    row[0]: Product.from_db(connection.alias, CART_PRODUCT_FIELDS, row)
                    for row in cursor.fetchall()
                }
            self._products.update({pk: found.get(pk) for pk in missing})
        return self._products

    def _check_quantity(self, quantity: int) -> None:
        if not 1 <= quantity <= self.max_quantity:
            raise CartError(f"Choose a quantity from 1 to {self.max_quantity}.")


@lru_cache(maxsize=settings.CART_MAX_LINES + 1)
def _products_statement(count: int) -> str:
    """Return the SQL that reads ``count`` products by id, compiled once.

    Compiling the ORM's query costs more than running it, on every cart change
    and every page with a cart. It depends only on how many ids there are.
    """
    in_model_order = [
        field.attname
        for field in Product._meta.concrete_fields
        if field.attname in CART_PRODUCT_FIELDS
    ]
    assert list(CART_PRODUCT_FIELDS) == in_model_order, in_model_order
    ids = range(1, count + 1)
    query = (
        Product.objects.filter(pk__in=ids).order_by().values_list(*CART_PRODUCT_FIELDS)
    )
    sql, params = query.query.sql_with_params()
    assert params == tuple(ids), "the statement's only parameters are the ids"
    return sql
