from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from storefront.images import product_image_variants_create
from storefront.models import Category, Product, ProductImage

CATEGORIES = {"computers": "Computers", "accessories": "Accessories"}
# Name, price in cents, description, categories, picture colours (background, shape).
PRODUCTS = [
    (
        "Laptop",
        99999,
        "A 14-inch laptop with a full day of battery.",
        ["computers"],
        ("#dfe4f7", "#3b3fd8"),
    ),
    (
        "Mouse",
        2999,
        "A quiet wireless mouse that fits either hand.",
        ["accessories"],
        ("#e3f4ea", "#11703c"),
    ),
    (
        "Keyboard",
        7999,
        "A mechanical keyboard with a compact layout.",
        ["accessories", "computers"],
        ("#fbefd9", "#8a5a00"),
    ),
]
PICTURE_SIZE = (960, 720)


def picture_draw(name: str, background: str, shape: str) -> ContentFile:
    """Return a simple PNG picture of a product, drawn here: nothing is downloaded."""
    width, height = PICTURE_SIZE
    picture = Image.new("RGB", PICTURE_SIZE, background)
    draw = ImageDraw.Draw(picture)
    if name == "Laptop":
        draw.rounded_rectangle((240, 170, 720, 470), radius=24, fill=shape)
        draw.rounded_rectangle((270, 200, 690, 440), radius=10, fill="#ffffff")
        draw.polygon([(180, 500), (780, 500), (720, 470), (240, 470)], fill=shape)
    elif name == "Mouse":
        draw.ellipse((360, 150, 600, 570), fill=shape)
        draw.line((480, 150, 480, 300), fill=background, width=10)
    else:
        draw.rounded_rectangle((140, 230, 820, 490), radius=24, fill=shape)
        for row in range(4):
            for column in range(11):
                x, y = 170 + column * 58, 255 + row * 56
                draw.rounded_rectangle((x, y, x + 44, y + 42), radius=6, fill="#fff")
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return ContentFile(buffer.getvalue(), name=f"{name.lower()}.png")


class Command(BaseCommand):
    help = (
        "Create or update the demo products, their categories and pictures "
        "(never deletes a product)."
    )

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        categories = {
            slug: Category.objects.update_or_create(slug=slug, defaults={"name": name})[
                0
            ]
            for slug, name in CATEGORIES.items()
        }
        for name, price_cents, description, slugs, colours in PRODUCTS:
            product, created = Product.objects.update_or_create(
                name=name,
                defaults={
                    "price_cents": price_cents,
                    "description": description,
                    "is_active": True,
                },
            )
            product.categories.add(*(categories[slug] for slug in slugs))
            if not product.images.exists():
                product_image = ProductImage.objects.create(
                    product=product,
                    image=picture_draw(name, *colours),
                    alt_text=f"Drawing of the {name.lower()}",
                )
                product_image_variants_create(product_image=product_image)
            verb = "Created" if created else "Updated"
            self.stdout.write(f"{verb} {name}")
