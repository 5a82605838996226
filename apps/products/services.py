from django.db import IntegrityError, transaction

from apps.products.models import Product


def product_id_mint(*, kind: str) -> str:
    """The next public id for a kind: ln_personal_01, ln_personal_02, ..."""
    prefix = f"ln_{kind}_"
    numbers = [
        int(value[len(prefix):])
        for value in Product.objects.filter(product_id__startswith=prefix).values_list("product_id", flat=True)
        if value[len(prefix):].isdigit()
    ]
    return f"{prefix}{max(numbers, default=0) + 1:02d}"


def product_create(**fields) -> Product:
    """Create a product with a freshly minted product_id (retrying if two staff save at once)."""
    for _ in range(5):
        product = Product(product_id=product_id_mint(kind=fields["kind"]), **fields)
        product.full_clean()
        try:
            with transaction.atomic():
                product.save()
            return product
        except IntegrityError:
            continue
    raise IntegrityError("Could not mint a unique product_id.")
