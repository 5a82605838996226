"""Encryption at rest for personal data and lender secrets.

A small field on `cryptography`'s MultiFernet rather than a third-party package: the packages
measured here return the ciphertext when decryption fails and derive keys from SECRET_KEY. This
one has its own key list (FIELD_ENCRYPTION_KEYS: the first encrypts, all decrypt, so keys rotate
with `MultiFernet.rotate`), and fails loudly on a value it cannot decrypt.
"""

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


def configured_keys() -> tuple[str, ...]:
    """The keys in use, newest (the one that encrypts) first."""
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        if not (settings.DEBUG or settings.TESTING):
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set outside DEBUG.")
        # DEBUG only: a key derived from SECRET_KEY so the demo runs without setup.
        digest = hashlib.sha256(f"prosperas-dev-field-key:{settings.SECRET_KEY}".encode()).digest()
        keys = (base64.urlsafe_b64encode(digest).decode(),)
    return keys


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(configured_keys())


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("Stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS.") from exc


def rotate(token: str) -> str:
    """Re-encrypt a stored token under the first (newest) key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python sees the plaintext. Blank stays blank."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


class EncryptedIntegerField(EncryptedTextField):
    """A whole number stored as a Fernet token (monthly income): Python sees an int, the column
    holds no digits anyone can read or sort. Not for values a query filters or orders on: keep a
    coarse, unencrypted band beside it for that (apps.leads.models.IncomeBand)."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> int | None:
        if value is None or value == "":
            return None
        return int(decrypt(value))

    def to_python(self, value: Any) -> int | None:
        if value is None or value == "":
            return None
        return int(value)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        return encrypt(str(int(value)))

    def formfield(self, **kwargs: Any):
        from django import forms

        return forms.IntegerField(**{"required": not self.blank, **kwargs})


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted (lender credentials). Python sees a dict."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> dict:
        if not value:
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value: Any) -> dict:
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value: Any) -> str:
        return encrypt(json.dumps(value or {}, sort_keys=True))

    def value_to_string(self, obj: Any) -> str:
        return json.dumps(self.value_from_object(obj))

    def formfield(self, **kwargs: Any):
        from django import forms

        return forms.JSONField(**{"required": not self.blank, **kwargs})


def mask(value: str | None, keep: int = 4) -> str:
    """'1234567890' -> '••••••7890'. For showing personal data to staff."""
    if not value:
        return ""
    if len(value) <= keep:
        return "•" * len(value)
    return "•" * (len(value) - keep) + value[-keep:]
