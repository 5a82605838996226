import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from apps.origins.models import Origin


def tracking_id_mint(*, origin: Origin) -> str:
    """A new tracking ID: a UUID4, or `<origin code>_<UUID4>` for origins configured so.

    From here on the value is opaque: stored, compared and sent exactly as returned.
    """
    value = str(uuid.uuid4())
    if origin.prefix_tracking_ids:
        return f"{origin.code}_{value}"
    return value


# --- Deep links ----------------------------------------------------------------------------
#
# An origin may open the flow with prefill data (the consumer's name and phone) and its own
# reference. Personal data never travels in a URL in clear (it would land in every access log,
# proxy and browser history on the way), so the prefill is one encrypted parameter:
#   /o/<code>/?prefill=<Fernet token>
# The token is made by the origin with a Fernet key derived from its deep link secret:
# key = urlsafe base64 of SHA-256(secret), over a JSON object with any of "ref", "name",
# "phone" (strings up to 128 characters) and "exp" (Unix seconds). Fernet (AES-128-CBC and
# HMAC-SHA256, a published spec with libraries in every common language) both hides and
# authenticates it; a token older than DEEP_LINK_TOKEN_MAX_AGE_SECONDS is refused whatever its
# exp. A refused link ignores the prefill; it never stops the consumer.
#
# The legacy form, values in clear with an HMAC signature, is accepted only from origins whose
# `deep_link_legacy_plain` switch staff turned on:
#   /o/<code>/?ref=ABC-1&name=Ana%20P%C3%A9rez&phone=3001234567&exp=1767225600&sig=<hex>
# sig = lowercase hex HMAC-SHA256(origin secret, canonical), where canonical is the signed
# parameters sorted by name, each as "name=value" (values as decoded from the URL), joined by
# "\n". Either way the flow keeps the prefill encrypted in the session and redirects to a clean
# URL at once, so it does not stay in the address bar, the history or a Referer.

DEEP_LINK_TOKEN_PARAMETER = "prefill"
DEEP_LINK_FIELDS = ("ref", "name", "phone", "exp")
DEEP_LINK_MAX_VALUE = 128
DEEP_LINK_TOKEN_MAX_AGE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class DeepLinkPrefill:
    reference: str = ""
    name: str = ""
    phone: str = ""


class DeepLinkRefused(Exception):
    """Why a deep link's prefill was ignored (safe to log: names no personal data)."""


def deep_link_fernet_key(secret: str) -> bytes:
    """The origin's Fernet key: urlsafe base64 of SHA-256 of its deep link secret."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


def deep_link_token_make(*, secret: str, reference: str = "", name: str = "", phone: str = "",
                         exp: int | None = None) -> str:
    """What an origin does to make a deep link's `prefill` (the reference implementation)."""
    payload = {key: value for key, value in (("ref", reference), ("name", name), ("phone", phone)) if value}
    if exp is not None:
        payload["exp"] = exp
    return Fernet(deep_link_fernet_key(secret)).encrypt(json.dumps(payload).encode()).decode()


def deep_link_receive(*, origin: Origin, params: Mapping[str, str], now: float | None = None) -> DeepLinkPrefill:
    """The prefill of an entry URL: the encrypted form, or the legacy plain form when the origin
    is switched to it; DeepLinkRefused otherwise."""
    if not origin.deep_link_secret:
        raise DeepLinkRefused("the origin has no deep link secret")
    now = time.time() if now is None else now
    if params.get(DEEP_LINK_TOKEN_PARAMETER):
        if any(params.get(name) for name in (*DEEP_LINK_FIELDS, "sig")):
            raise DeepLinkRefused("plain parameters beside the encrypted prefill")
        return deep_link_token_open(origin=origin, token=params[DEEP_LINK_TOKEN_PARAMETER], now=now)
    if not origin.deep_link_legacy_plain:
        raise DeepLinkRefused("plain prefill refused: the origin's legacy deep links are off")
    return deep_link_verify(origin=origin, params=params, now=now)


def deep_link_token_open(*, origin: Origin, token: str, now: float) -> DeepLinkPrefill:
    fernet = Fernet(deep_link_fernet_key(origin.deep_link_secret))
    try:
        plain = fernet.decrypt_at_time(token.encode(), ttl=DEEP_LINK_TOKEN_MAX_AGE_SECONDS, current_time=int(now))
    except InvalidToken:
        raise DeepLinkRefused("the prefill does not decrypt with the origin's key, or is too old") from None
    try:
        payload = json.loads(plain)
    except ValueError:
        raise DeepLinkRefused("the prefill is not JSON") from None
    if not isinstance(payload, dict) or set(payload) - set(DEEP_LINK_FIELDS):
        raise DeepLinkRefused("the prefill is not an object of ref, name, phone and exp")
    exp = payload.pop("exp", None)
    if exp is not None and (isinstance(exp, bool) or not isinstance(exp, int)):
        raise DeepLinkRefused("exp is not Unix seconds")
    if exp is not None and exp < now:
        raise DeepLinkRefused("expired")
    if any(not isinstance(value, str) or len(value) > DEEP_LINK_MAX_VALUE for value in payload.values()):
        raise DeepLinkRefused("a value is not a string of at most 128 characters")
    return DeepLinkPrefill(reference=payload.get("ref", ""), name=payload.get("name", ""),
                           phone=payload.get("phone", ""))


def deep_link_canonical(params: Mapping[str, str]) -> str:
    return "\n".join(f"{name}={params[name]}" for name in sorted(params) if name in DEEP_LINK_FIELDS)


def deep_link_sign(*, secret: str, params: Mapping[str, str]) -> str:
    return hmac.new(secret.encode(), deep_link_canonical(params).encode(), hashlib.sha256).hexdigest()


def deep_link_verify(*, origin: Origin, params: Mapping[str, str], now: float | None = None) -> DeepLinkPrefill:
    """The prefill of a correctly signed legacy (plain) entry URL; DeepLinkRefused otherwise.
    Whether the origin may use this form at all is deep_link_receive's to decide."""
    signed = {name: params[name] for name in DEEP_LINK_FIELDS if params.get(name)}
    if not signed:
        raise DeepLinkRefused("no prefill parameters")
    if not origin.deep_link_secret:
        raise DeepLinkRefused("the origin has no deep link secret")
    received = params.get("sig", "")
    if not received:
        raise DeepLinkRefused("missing signature")
    expected = deep_link_sign(secret=origin.deep_link_secret, params=signed)
    if not hmac.compare_digest(expected.encode(), received.lower().encode()):
        raise DeepLinkRefused("bad signature")
    if any(len(value) > DEEP_LINK_MAX_VALUE for value in signed.values()):
        raise DeepLinkRefused("a value is too long")
    if "exp" in signed:
        if not signed["exp"].isdigit():
            raise DeepLinkRefused("exp is not Unix seconds")
        if int(signed["exp"]) < (time.time() if now is None else now):
            raise DeepLinkRefused("expired")
    return DeepLinkPrefill(reference=signed.get("ref", ""), name=signed.get("name", ""), phone=signed.get("phone", ""))
