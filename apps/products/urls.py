"""The product data API, mounted under /api/v1/ (no trailing slashes, like /api/v1/postbacks)."""

from django.urls import path

from apps.products.api import ProductCollectionView, ProductItemView

app_name = "products"

urlpatterns = [
    path("products", ProductCollectionView.as_view(), name="collection"),
    path("products/<str:product_id>", ProductItemView.as_view(), name="item"),
]
