"""The shopping cart: product ids and quantities in the shopper's session.

The session holds nothing but ``{"<product id>": quantity}``, and the references
of the checkouts the cart was sent to. Names and prices are read from the
database every time the cart is shown, so a price can never come from the
client and a price change shows at once.

Once a checkout is paid, what it paid for leaves the cart. The payments app
says which checkouts are settled (``register_checkout_settler``; storefront
never imports payments); the cart takes their items out as it is read, and
the next change, made under the session's lock, saves that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from storefront.models import Product
from storefront.stock import available

# What a cart line shows and checks; the rest of a product stays in the database.
CART_PRODUCT_FIELDS = ("name", "price_cents", "is_active", "stock", "requires_shipping")
# A shopper has a checkout or two open at once; more than this are forgotten.
MAX_CHECKOUTS = 10


@dataclass(frozen=True)
class SettledCheckouts:
    """Which of a cart's checkouts are over, and what the paid ones bought."""

    references: frozenset[str] = frozenset()
    paid_quantities: Mapping[int, int] = field(default_factory=dict)


CheckoutSettler = Callable[[list[str]], SettledCheckouts]
_checkout_settlers: list[CheckoutSettler] = []


def register_checkout_settler(settler: CheckoutSettler) -> None:
    """Let ``settler`` say which of a cart's checkouts are over (payments does)."""
    if settler not in _checkout_settlers:
        _checkout_settlers.append(settler)


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

    @property
    def requires_shipping(self) -> bool:
        return any(line.product.requires_shipping for line in self.lines)


class Cart:
    """A cart stored in ``request.session`` under two keys."""

    session_key = "cart"
    checkouts_session_key = "cart_checkouts"

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        self.max_quantity: int = settings.CART_MAX_QUANTITY
        self.max_lines: int = settings.CART_MAX_LINES
        # The products this request has read, by id; None for an id with no
        # product. Each id is read once.
        self._products: dict[int, Product | None] = {}
        self._quantities = self._load()
        self._checkouts = self._load_checkouts()
        if self._checkouts:
            self._settle_checkouts()

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

    def _load_checkouts(self) -> list[str]:
        stored = self.session.get(self.checkouts_session_key)
        if not isinstance(stored, list):
            return []
        return [reference for reference in stored if isinstance(reference, str)][
            -MAX_CHECKOUTS:
        ]

    def _settle_checkouts(self) -> None:
        """Forget the checkouts that are over; take out what the paid ones bought.

        Only in memory: a request that only reads the cart never writes the
        session. The next change saves it.
        """
        for settler in _checkout_settlers:
            settled = settler(self._checkouts)
            self._checkouts = [
                reference
                for reference in self._checkouts
                if reference not in settled.references
            ]
            for product_id, paid in settled.paid_quantities.items():
                left = self._quantities.get(product_id, 0) - paid
                if left > 0:
                    self._quantities[product_id] = left
                else:
                    self._quantities.pop(product_id, None)

    def _save(self) -> None:
        """Write the cart to the session, leaving out products no longer on sale."""
        products = self._products_read(set(self._quantities))
        self._quantities = {
            product_id: quantity
            for product_id, quantity in self._quantities.items()
            if (product := products.get(product_id)) is not None and product.is_active
        }
        self.session[self.session_key] = {
            str(product_id): quantity
            for product_id, quantity in self._quantities.items()
        }
        if self._checkouts:
            self.session[self.checkouts_session_key] = self._checkouts
        else:
            self.session.pop(self.checkouts_session_key, None)

    @property
    def checkouts(self) -> list[str]:
        """Return the references of the cart's checkouts that are not over yet."""
        return list(self._checkouts)

    def checkout_started(self, *, reference: str) -> None:
        """Remember that the cart, as it is, went to checkout as ``reference``."""
        if reference not in self._checkouts:
            self._checkouts = [*self._checkouts, reference][-MAX_CHECKOUTS:]
        self._save()

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

    def add(self, *, product: Product, quantity: int = 1) -> str:
        """Add a quantity of a product, within the cart's limits and its stock.

        Return why less was added than asked for ("" when all of it was).
        """
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
        limit = available(product, held=current)
        if limit is None or current + quantity <= limit:
            self._quantities[product.pk] = current + quantity
            self._save()
            return ""
        if limit <= current:
            raise CartError(_stock_refusal(product, current))
        self._quantities[product.pk] = limit
        self._save()
        return _stock_notice(product, limit)

    def set_quantity(self, *, product: Product, quantity: int) -> str:
        """Set the quantity of a product in the cart, within its stock.

        Return why the quantity is less than asked for ("" when it is not).
        """
        if product.pk not in self._quantities:
            raise CartError(f"{product.name} is not in your cart.")
        self._check_quantity(quantity)
        limit = available(product, held=self._quantities[product.pk])
        wanted = quantity
        if limit is not None:
            quantity = min(quantity, limit)
        self._quantities[product.pk] = quantity
        self._save()
        return _stock_notice(product, quantity) if quantity < wanted else ""

    def quantities_cap(self, limits: Mapping[int, int]) -> None:
        """Lower quantities to these limits; a product with none left leaves."""
        for product_id, limit in limits.items():
            if product_id not in self._quantities:
                continue
            if limit > 0:
                self._quantities[product_id] = min(self._quantities[product_id], limit)
            else:
                del self._quantities[product_id]
        self._save()

    def remove(self, *, product_id: int) -> None:
        """Take a product out of the cart."""
        if product_id not in self._quantities:
            raise CartError("That item is not in your cart.")
        del self._quantities[product_id]
        self._save()

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
            # Saved with the next change, under the session's lock.
            self._quantities = {line.product.pk: line.quantity for line in lines}
        return CartContents(lines=lines, removed=removed)

    def _products_read(self, product_ids: set[int]) -> dict[int, Product | None]:
        """Return these products by id, reading only those not read before."""
        missing = product_ids - self._products.keys()
        if missing:
            found = Product.objects.only(*CART_PRODUCT_FIELDS).in_bulk(missing)
            self._products.update({pk: found.get(pk) for pk in missing})
        return self._products

    def _check_quantity(self, quantity: int) -> None:
        if not 1 <= quantity <= self.max_quantity:
            raise CartError(f"Choose a quantity from 1 to {self.max_quantity}.")


def _stock_refusal(product: Product, current: int) -> str:
    if not product.stock and not current:
        return f"{product.name} is sold out."
    return (
        f"Only {product.stock} {product.name} left, and your cart already "
        f"holds {current}."
    )


def _stock_notice(product: Product, quantity: int) -> str:
    return f"Only {product.stock} {product.name} left: your cart now holds {quantity}."
