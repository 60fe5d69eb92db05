from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image

from storefront.images import product_image_validate, product_image_variants_create
from storefront.models import ProductImage

from .conftest import picture_bytes, product_image_make, upload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("image_format", "name"),
    [("JPEG", "photo.jpg"), ("PNG", "photo.png"), ("WEBP", "photo.webp")],
)
def test_jpeg_png_and_webp_pictures_are_accepted(image_format, name):
    product_image_validate(upload(name, picture_bytes(image_format=image_format)))


def test_a_gif_is_refused_even_though_pillow_reads_it():
    with pytest.raises(ValidationError) as error:
        product_image_validate(upload("anim.gif", picture_bytes(image_format="GIF")))

    assert error.value.code == "invalid_format"


def test_a_text_file_named_like_a_picture_is_refused():
    with pytest.raises(ValidationError) as error:
        product_image_validate(upload("fake.png", b"<?php echo 'not a picture'; ?>"))

    assert error.value.code == "invalid_image"


def test_a_truncated_picture_is_refused():
    damaged = picture_bytes(image_format="PNG")[:200]

    with pytest.raises(ValidationError) as error:
        product_image_validate(upload("broken.png", damaged))

    assert error.value.code == "invalid_image"


def test_a_file_over_the_size_limit_is_refused(settings):
    settings.PRODUCT_IMAGE_MAX_BYTES = 1000

    with pytest.raises(ValidationError) as error:
        product_image_validate(upload(content=picture_bytes((800, 600), "BMP")))

    assert error.value.code == "too_large"


@pytest.mark.parametrize("size", [(7000, 300), (300, 100)])
def test_pictures_too_large_or_too_small_are_refused(settings, size):
    settings.PRODUCT_IMAGE_MAX_SIDE = 6000
    settings.PRODUCT_IMAGE_MIN_SIDE = 200

    with pytest.raises(ValidationError) as error:
        product_image_validate(upload(content=picture_bytes(size)))

    assert error.value.code == "bad_dimensions"


def test_model_validation_requires_alt_text_and_a_real_picture(laptop):
    product_image = ProductImage(
        product=laptop, image=upload("fake.png", b"not a picture"), alt_text=""
    )

    with pytest.raises(ValidationError) as error:
        product_image.full_clean()

    assert set(error.value.message_dict) == {"image", "alt_text"}


def test_saved_picture_gets_webp_and_jpeg_copies_at_each_width(laptop):
    product_image = product_image_make(laptop, size=(1600, 1200))

    product_image.refresh_from_db()
    assert (product_image.width, product_image.height) == (1600, 1200)
    assert [v["width"] for v in product_image.variants] == [320, 640, 1280]
    for variant in product_image.variants:
        for kind, image_format in (("webp", "WEBP"), ("jpeg", "JPEG")):
            with default_storage.open(variant[kind]) as file, Image.open(file) as copy:
                assert copy.format == image_format
                assert copy.size == (variant["width"], variant["height"])
        assert variant["height"] == variant["width"] * 3 // 4


def test_a_picture_narrower_than_every_width_keeps_its_own(laptop):
    product_image = product_image_make(laptop, size=(250, 400))

    assert [(v["width"], v["height"]) for v in product_image.variants] == [(250, 400)]


def test_a_transparent_png_gets_a_white_jpeg_background(laptop):
    product_image = ProductImage.objects.create(
        product=laptop,
        image=upload(content=picture_bytes((400, 300), "PNG", mode="RGBA")),
        alt_text="Transparent",
    )
    product_image_variants_create(product_image=product_image)

    [variant] = product_image.variants
    with default_storage.open(variant["webp"]) as file, Image.open(file) as webp:
        assert webp.mode == "RGBA"
    with default_storage.open(variant["jpeg"]) as file, Image.open(file) as jpeg:
        assert jpeg.mode == "RGB"
