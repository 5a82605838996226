"""Texts written in code are Spanish, the marketplace's language.

Translated model fields (django-modeltranslation: apps/listings/translation.py,
apps/products/translation.py) read and write the column of the *active* language when named
without a suffix (`listing.title`, `Listing(title=...)`). A request's language stays active in its
thread afterwards, and the lender API answers in English, so code that writes such texts by their
plain name (services, the lender's product data, the demo) runs in Spanish through this.
"""

import functools

from django.conf import settings
from django.utils import translation


def in_source_language(function):
    """Run `function` with Spanish active (a fresh override per call: one keeps state, so it
    cannot be shared between threads as a decorator instance)."""

    @functools.wraps(function)
    def in_spanish(*args, **kwargs):
        with translation.override(settings.LANGUAGE_CODE):
            return function(*args, **kwargs)

    return in_spanish
