"""Product pictures: checked when uploaded, and resized once, when they are saved.

A shopper's request only ever reads the stored copies (``ProductImage.variants``):
each width in settings.PRODUCT_IMAGE_WIDTHS that the original can fill, in WebP
and, for browsers without it, JPEG. Everything goes through Django's storage API,
so the same code writes to MEDIA_ROOT in development and to a bucket in production.
"""

from __future__ import annotations

import io
import uuid
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from django.core.files import File

    from storefront.models import ProductImage

# Pillow's format names, as Image.open() reports them.
ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
WEBP_QUALITY = 80
JPEG_QUALITY = 82


def product_image_upload_to(instance: ProductImage, filename: str) -> str:
    """Store each original under a new name: the copies' names derive from it."""
    suffix = PurePosixPath(filename).suffix.lower()
    return f"products/{uuid.uuid4().hex}{suffix}"


def product_image_validate(file: File) -> None:
    """Accept only a real JPEG, PNG or WebP picture within the size limits."""
    if getattr(file, "_committed", False):
        # Already stored, so checked when it was uploaded: not read back again
        # (from a bucket) each time the admin saves the product.
        return
    max_bytes = settings.PRODUCT_IMAGE_MAX_BYTES
    if file.size > max_bytes:
        raise ValidationError(
            f"The file is larger than {filesizeformat(max_bytes)}.", code="too_large"
        )
    position = file.tell() if hasattr(file, "tell") else 0
    try:
        file.seek(0)
        # open() reads only the header: the dimensions are checked before any
        # pixel is decoded, so a decompression bomb is refused unread.
        with Image.open(file) as picture:
            image_format, (width, height) = picture.format, picture.size
            if image_format in ALLOWED_FORMATS:
                picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise ValidationError(
            "Upload a JPEG, PNG or WebP picture; this file is not one, or is damaged.",
            code="invalid_image",
        ) from None
    finally:
        file.seek(position)
    if image_format not in ALLOWED_FORMATS:
        raise ValidationError(
            f"Upload a JPEG, PNG or WebP picture, not {image_format}.",
            code="invalid_format",
        )
    max_side = settings.PRODUCT_IMAGE_MAX_SIDE
    min_side = settings.PRODUCT_IMAGE_MIN_SIDE
    if max(width, height) > max_side or min(width, height) < min_side:
        raise ValidationError(
            f"The picture is {width}×{height} pixels; each side must be from "
            f"{min_side} to {max_side}.",
            code="bad_dimensions",
        )


def variant_widths(original_width: int) -> list[int]:
    """Return the widths to make: those the original fills, or its own if smaller."""
    widths = [w for w in settings.PRODUCT_IMAGE_WIDTHS if w <= original_width]
    return widths or [original_width]


def product_image_variants_create(*, product_image: ProductImage) -> None:
    """Make and store the resized copies of a saved picture, and record them."""
    old_variants = product_image.variants
    with product_image.image.open("rb") as file, Image.open(file) as original:
        # Phones store the camera's orientation apart from the pixels.
        picture = ImageOps.exif_transpose(original)
        picture.load()
    product_image.width, product_image.height = picture.size
    has_alpha = picture.mode in {"RGBA", "LA", "PA"} or (
        picture.mode == "P" and "transparency" in picture.info
    )
    picture = picture.convert("RGBA" if has_alpha else "RGB")
    stem = PurePosixPath(product_image.image.name).with_suffix("")
    variants = []
    for width in variant_widths(picture.width):
        height = max(1, round(picture.height * width / picture.width))
        resized = picture.resize((width, height), Image.Resampling.LANCZOS)
        webp = _store(resized, f"{stem}-{width}.webp", "WEBP", quality=WEBP_QUALITY)
        opaque = _flatten(resized) if has_alpha else resized
        jpeg = _store(
            opaque, f"{stem}-{width}.jpg", "JPEG", quality=JPEG_QUALITY, optimize=True
        )
        variants.append({"width": width, "height": height, "webp": webp, "jpeg": jpeg})
    product_image.variants = variants
    product_image.save(update_fields=["width", "height", "variants"])
    product_image_variants_delete(variants=old_variants)


def product_image_variants_delete(*, variants: list[dict]) -> None:
    """Delete stored copies that no picture uses any more."""
    for variant in variants:
        for name in (variant["webp"], variant["jpeg"]):
            default_storage.delete(name)


def _flatten(picture: Image.Image) -> Image.Image:
    background = Image.new("RGB", picture.size, (255, 255, 255))
    background.paste(picture, mask=picture.getchannel("A"))
    return background


def _store(picture: Image.Image, name: str, image_format: str, **options) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, image_format, **options)
    return default_storage.save(name, ContentFile(buffer.getvalue()))


class Variant(NamedTuple):
    width: int
    height: int
    webp: str
    jpeg: str


class Picture(NamedTuple):
    """What a <picture> element needs: hashable, so cached cards can show it."""

    alt: str
    variants: tuple[Variant, ...]

    @classmethod
    def from_variants(cls, alt: str, variants: list[dict] | None) -> Picture | None:
        if not variants:
            return None
        return cls(alt, tuple(Variant(**variant) for variant in variants))

    @property
    def largest(self) -> Variant:
        return self.variants[-1]

    @property
    def width(self) -> int:
        return self.largest.width

    @property
    def height(self) -> int:
        return self.largest.height

    @property
    def src(self) -> str:
        """The JPEG of the width closest to 640: for browsers without srcset."""
        variant = min(self.variants, key=lambda v: abs(v.width - 640))
        return default_storage.url(variant.jpeg)

    @property
    def largest_jpeg_url(self) -> str:
        return default_storage.url(self.largest.jpeg)

    @property
    def webp_srcset(self) -> str:
        return _srcset(self.variants, "webp")

    @property
    def jpeg_srcset(self) -> str:
        return _srcset(self.variants, "jpeg")


def _srcset(variants: tuple[Variant, ...], kind: str) -> str:
    return ", ".join(
        f"{default_storage.url(getattr(variant, kind))} {variant.width}w"
        for variant in variants
    )
