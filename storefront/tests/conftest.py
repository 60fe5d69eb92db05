from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from storefront.images import product_image_variants_create
from storefront.models import Product, ProductImage


def picture_bytes(
    size: tuple[int, int] = (800, 600), image_format: str = "PNG", mode: str = "RGB"
) -> bytes:
    """Return a picture made with Pillow, in the given format."""
    picture = Image.new(mode, size, (200, 60, 60, 128)[: len(mode)])
    buffer = io.BytesIO()
    picture.save(buffer, image_format)
    return buffer.getvalue()


def upload(
    name: str = "picture.png",
    content: bytes | None = None,
    content_type: str = "image/png",
) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, picture_bytes() if content is None else content, content_type
    )


def product_image_make(
    product: Product,
    *,
    size: tuple[int, int] = (800, 600),
    alt_text: str = "A picture",
    position: int = 0,
) -> ProductImage:
    """Store a picture for a product and its resized copies, as the admin does."""
    product_image = ProductImage.objects.create(
        product=product,
        image=upload(content=picture_bytes(size)),
        alt_text=alt_text,
        position=position,
    )
    product_image_variants_create(product_image=product_image)
    return product_image


@pytest.fixture
def laptop_picture(laptop: Product) -> ProductImage:
    return product_image_make(laptop, size=(1600, 1200), alt_text="The laptop, open")
