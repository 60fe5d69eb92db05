from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from model_bakery import baker

from storefront.models import Category, Product, ProductImage

from .conftest import picture_bytes, product_image_make, upload

pytestmark = pytest.mark.django_db


def json_ld(html: str) -> dict:
    [data] = re.findall(
        r'<script type="application/ld\+json">(.*?)</script>', html, re.DOTALL
    )
    return json.loads(data)


def test_slug_is_made_from_the_name_and_is_the_product_page(db):
    product = Product.objects.create(name="Wireless Mouse 2", price_cents=100)

    assert product.slug == "wireless-mouse-2"
    assert product.get_absolute_url() == "/products/wireless-mouse-2/"


def test_products_created_in_bulk_get_slugs_too(db):
    Product.objects.bulk_create(
        [Product(name="Desk Lamp", price_cents=1), Product(name="Pen", price_cents=1)]
    )

    assert set(Product.objects.values_list("slug", flat=True)) == {"desk-lamp", "pen"}


def test_product_page_shows_the_product_with_its_pictures(client, laptop):
    laptop.description = "Fast.\n\nLight."
    laptop.save()
    product_image_make(laptop, size=(1600, 1200), alt_text="Front", position=1)
    product_image_make(laptop, size=(800, 600), alt_text="Side", position=2)

    response = client.get(laptop.get_absolute_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Laptop · Shop</title>" in html
    assert "<p>Fast.</p>" in html and "$999.99" in html
    assert html.index('alt="Front"') < html.index('alt="Side"')
    assert 'type="image/webp"' in html and "320w" in html and "1280w" in html
    assert 'width="1280" height="960"' in html
    assert 'loading="lazy"' in html
    # The same add-to-cart form as the catalog's, with htmx on top.
    assert f'name="product" value="{laptop.pk}"' in html
    assert 'hx-post="/cart/add/"' in html and 'action="/cart/add/"' in html


def test_product_page_without_pictures_shows_the_placeholder(client, laptop):
    html = client.get(laptop.get_absolute_url()).content.decode()

    assert "img/product-placeholder.svg" in html
    assert 'alt=""' in html


def test_inactive_and_unknown_products_have_no_page(client, inactive_product):
    assert client.get(inactive_product.get_absolute_url()).status_code == 404
    assert client.get("/products/no-such-thing/").status_code == 404


def test_product_page_describes_the_product_for_search_engines(
    client, laptop, laptop_picture
):
    laptop.description = 'Says </script><script>alert("x")</script> & more'
    laptop.save()
    laptop.categories.add(Category.objects.create(name="Computers", slug="computers"))

    response = client.get(laptop.get_absolute_url())

    html = response.content.decode()
    assert "</script><script>alert" not in html
    assert "\\u003C/script\\u003E" in html
    data = json_ld(html)
    assert data["@type"] == "Product"
    assert data["name"] == "Laptop"
    assert data["description"].startswith('Says </script><script>alert("x")')
    assert data["url"] == "http://testserver/products/laptop/"
    assert data["category"] == ["Computers"]
    assert data["image"][0].startswith("http://testserver/media/products/")
    assert data["offers"] == {
        "@type": "Offer",
        "url": "http://testserver/products/laptop/",
        "price": "999.99",
        "priceCurrency": "USD",
        "availability": "https://schema.org/InStock",
    }
    assert '<meta property="og:type" content="product">' in html
    assert '<meta property="og:title" content="Laptop">' in html
    assert (
        '<meta property="og:url" content="http://testserver/products/laptop/">' in html
    )
    assert '<meta property="og:image" content="http://testserver/media/' in html
    # The JSON-LD is data: the policy still allows no inline script at all.
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy + ";"
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize(
    ("stock", "said", "maximum"),
    [(None, "In stock", "99"), (40, "In stock", "40"), (3, "Only 3 left", "3")],
)
def test_product_page_says_the_stock_and_caps_the_quantity(
    client, laptop, stock, said, maximum
):
    Product.objects.filter(pk=laptop.pk).update(stock=stock)

    html = client.get(laptop.get_absolute_url()).content.decode()

    assert f'<p class="product__stock" id="stock-{laptop.pk}">{said}</p>' in html
    assert f'min="1" max="{maximum}" value="1" required>' in html
    assert json_ld(html)["offers"]["availability"] == "https://schema.org/InStock"


def test_product_page_of_a_sold_out_product_cannot_add_it(client, laptop):
    Product.objects.filter(pk=laptop.pk).update(stock=0)

    html = client.get(laptop.get_absolute_url()).content.decode()

    assert f'<p class="product__stock" id="stock-{laptop.pk}">Sold out</p>' in html
    assert f'disabled aria-describedby="stock-{laptop.pk}">Add' in html
    assert json_ld(html)["offers"]["availability"] == "https://schema.org/OutOfStock"


def test_product_page_has_the_one_status_region_and_a_private_cart(client, laptop):
    client.post("/cart/add/", {"product": laptop.pk, "quantity": 1})

    response = client.get(laptop.get_absolute_url())

    html = response.content.decode()
    assert html.count('role="status"') == 1 and "aria-live" not in html
    assert html.index('id="status"') < html.index('id="cart"')
    assert "private" in response["Cache-Control"] and "Cookie" in response["Vary"]


def test_catalog_names_link_to_product_pages(client, laptop, mouse):
    html = client.get("/").content.decode()

    assert '<a href="/products/laptop/">Laptop</a>' in html
    assert '<a href="/products/mouse/">Mouse</a>' in html


def test_catalog_cards_show_the_first_picture(client, laptop, mouse, laptop_picture):
    product_image_make(laptop, alt_text="Later picture", position=5)

    html = client.get("/").content.decode()

    assert 'alt="The laptop, open"' in html
    assert "Later picture" not in html
    assert html.count("img/product-placeholder.svg") == 1  # the mouse's


def test_cached_cards_show_a_new_picture_at_once(client, laptop):
    client.get("/")
    product_image_make(laptop, alt_text="Brand new picture")

    assert 'alt="Brand new picture"' in client.get("/").content.decode()


def test_media_are_served_in_development_only(client, settings, laptop_picture):
    url = "/media/" + laptop_picture.variants[0]["webp"]
    settings.SERVE_MEDIA = True
    assert client.get(url).status_code == 200
    settings.SERVE_MEDIA = False
    assert client.get(url).status_code == 404


def test_sitemap_lists_active_products_and_categories(client, laptop, inactive_product):
    laptop.categories.add(Category.objects.create(name="Computers", slug="computers"))
    Category.objects.create(name="Empty", slug="empty")

    response = client.get("/sitemap.xml")

    assert response.status_code == 200
    xml = response.content.decode()
    assert "<loc>http://testserver/products/laptop/</loc>" in xml
    assert "<loc>http://testserver/?category=computers</loc>" in xml
    assert "<loc>http://testserver/</loc>" in xml
    assert "old-monitor" not in xml
    assert "category=empty" not in xml


def test_robots_txt_points_to_the_sitemap(client):
    response = client.get("/robots.txt")

    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert "Disallow: /admin/" in text and "Disallow: /orders/" in text
    # Search results, whatever the parameters' order: endless, and thin.
    assert "Disallow: /*?q=" in text and "Disallow: /*&q=" in text
    assert "Sitemap: http://testserver/sitemap.xml" in text


@pytest.fixture
def admin_client_logged_in(client):
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    return client


def inline_management(prefix: str = "images", total: int = 1, initial: int = 0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_admin_upload_stores_the_picture_and_its_copies(admin_client_logged_in):
    category = baker.make(Category, name="Lamps", slug="lamps")
    response = admin_client_logged_in.post(
        reverse("admin:storefront_product_add"),
        {
            "name": "Desk Lamp",
            "slug": "desk-lamp",
            "description": "Warm light.",
            "price_cents": "4500",
            "categories": [category.pk],
            "is_active": "on",
            **inline_management(),
            "images-0-image": upload("lamp.jpg", picture_bytes((900, 900), "JPEG")),
            "images-0-alt_text": "The lamp, lit",
            "images-0-position": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    product = Product.objects.get(slug="desk-lamp")
    assert list(product.categories.all()) == [category]
    [product_image] = product.images.all()
    assert [v["width"] for v in product_image.variants] == [320, 640]
    assert (product_image.width, product_image.height) == (900, 900)


def test_admin_refuses_a_fake_picture_and_saves_nothing(admin_client_logged_in):
    response = admin_client_logged_in.post(
        reverse("admin:storefront_product_add"),
        {
            "name": "Desk Lamp",
            "slug": "desk-lamp",
            "price_cents": "4500",
            **inline_management(),
            "images-0-image": upload("lamp.png", b"GIF89a not really"),
            "images-0-alt_text": "The lamp",
            "images-0-position": "0",
        },
    )

    assert response.status_code == 200
    assert not Product.objects.exists()
    assert not ProductImage.objects.exists()
