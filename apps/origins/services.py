import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from apps.origins.models import Origin


def tracking_id_mint(*, origin: Origin) -> str:
    """A new tracking ID: a UUID4, or `<origin code>_<UUID4>` for origins configured so.

    From here on the value is opaque: stored, compared and sent exactly as returned.
    """
    value = str(uuid.uuid4())
    if origin.prefix_tracking_ids:
        return f"{origin.code}_{value}"
    return value


# --- Signed deep links ------------------------------------------------------------------------
#
# An origin may open the flow with prefill data and its own reference:
#   /o/<code>/?ref=ABC-1&name=Ana%20P%C3%A9rez&phone=3001234567&exp=1767225600&sig=<hex>
# sig = lowercase hex HMAC-SHA256(origin secret, canonical), where canonical is the signed
# parameters sorted by name, each as "name=value" (values as decoded from the URL), joined by
# "\n". `exp` (Unix seconds) is optional. A bad or missing signature ignores the prefill; it
# never stops the consumer. The flow moves the values to the session and redirects to a clean
# URL at once, so they do not stay in the address bar, the history or a Referer.

DEEP_LINK_FIELDS = ("ref", "name", "phone", "exp")
DEEP_LINK_MAX_VALUE = 128


@dataclass(frozen=True)
class DeepLinkPrefill:
    reference: str = ""
    name: str = ""
    phone: str = ""


class DeepLinkRefused(Exception):
    """Why a deep link's prefill was ignored (safe to log: names no personal data)."""


def deep_link_canonical(params: Mapping[str, str]) -> str:
    return "\n".join(f"{name}={params[name]}" for name in sorted(params) if name in DEEP_LINK_FIELDS)


def deep_link_sign(*, secret: str, params: Mapping[str, str]) -> str:
    return hmac.new(secret.encode(), deep_link_canonical(params).encode(), hashlib.sha256).hexdigest()


def deep_link_verify(*, origin: Origin, params: Mapping[str, str], now: float | None = None) -> DeepLinkPrefill:
    """The prefill of a correctly signed entry URL; DeepLinkRefused otherwise."""
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
