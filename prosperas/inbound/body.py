"""Reading a signed request before anything trusts it: size, content type, JSON, the client's
address, and the headers kept for audit. Each refusal is an InboundRefused the view renders.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from prosperas.inbound import signing
from prosperas.inbound.refusals import InboundRefused

# Never stored with the event: they are the credentials (the public key is kept, for audit).
HEADERS_NOT_KEPT = {signing.HEADER_SIGNATURE.lower(), "authorization", "cookie"}
ALLOWED_CHARSETS = {"utf-8", "utf8"}
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def max_body_bytes() -> int:
    """The largest body a lender may send (64 KiB, DESIGN.md §5)."""
    return settings.POSTBACK_MAX_BODY_BYTES


def too_large(limit: int | None = None) -> InboundRefused:
    limit = limit or max_body_bytes()
    return InboundRefused(413, "too_large", f"The body is over {limit} bytes ({limit // 1024} KiB).")


def body_read(request: HttpRequest, *, limit: int | None = None) -> bytes:
    """The raw body, refusing more than `limit` (by default the postback contract's 64 KiB) by its
    Content-Length and by what is actually read (a client may send a wrong length).

    A chunked body has no Content-Length, and Django then reads it as empty: it is read from the
    server's input stream instead, whole up to the limit, where the server marks that stream as
    ending with the body (`wsgi.input_terminated`, as gunicorn does). A server that does not is
    answered 411: never a misleading refusal of an empty body."""
    limit = limit or max_body_bytes()
    if _chunked(request):
        return _chunked_body_read(request, limit)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large(limit)
    raw_body = request.read(limit + 1)
    if len(raw_body) > limit:
        raise too_large(limit)
    return raw_body


def _chunked(request: HttpRequest) -> bool:
    """A chunked body under WSGI. (Under ASGI, Django's request already holds the whole body.)"""
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "")
    return "wsgi.input" in request.META and not request.META.get("CONTENT_LENGTH") and "chunked" in encoding.lower()


def _chunked_body_read(request: HttpRequest, limit: int) -> bytes:
    if not request.META.get("wsgi.input_terminated"):
        raise InboundRefused(411, "length_required", "Send the body with a Content-Length header.")
    stream = request.META["wsgi.input"]
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(65536, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise too_large(limit)
    return b"".join(chunks)


def content_type_check(request: HttpRequest) -> None:
    """application/json, optionally with charset=utf-8 (RFC 8259: JSON between systems is UTF-8)."""
    charset = request.content_params.get("charset", "utf-8").lower()
    if request.content_type != "application/json" or charset not in ALLOWED_CHARSETS:
        raise InboundRefused(
            415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json (UTF-8)."
        )


def json_object_parse(raw_body: bytes) -> dict[str, Any]:
    """The body as a JSON object. Strict: UTF-8 only, no duplicate keys (which one would win is up
    to each parser), no NaN or Infinity (not JSON)."""
    try:
        text = raw_body.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise _malformed("The body is not valid UTF-8.") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise _malformed(f"The body is not valid JSON: {error.msg} ({where}).") from None
    except ValueError as error:  # a duplicate key or a NaN, from the hooks below
        raise _malformed(f"The body is not valid JSON: {error}") from None
    except RecursionError:
        raise _malformed("The body is not valid JSON: nested too deeply.") from None
    if not isinstance(value, dict):
        raise _malformed("The body must be a JSON object.")
    if _holds_unpaired_surrogate(text, value):
        raise _malformed("The body is not valid JSON text: an escape such as \\ud800 stands for half a "
                         "character (an unpaired surrogate), which is not Unicode.")
    return value


def storable_json_object_parse(raw_body: bytes) -> dict[str, Any]:
    """json_object_parse, also refusing (400) what the database cannot hold anywhere in the
    document (json_storable): for bodies kept whole or in parts without field-by-field rules."""
    value = json_object_parse(raw_body)
    if not json_storable(value):
        raise _malformed(UNSTORABLE_MESSAGE)
    return value


UNSTORABLE_MESSAGE = ("The body holds what cannot be stored: the NUL character (\\u0000), half a surrogate pair "
                      "(\\ud800) or a number too large for a double (1e400).")


def json_storable(value: Any) -> bool:
    """Whether PostgreSQL can keep this parsed JSON (in jsonb, or its strings in text columns): no
    NUL character, no unpaired surrogate (not Unicode: UTF-8 cannot encode it) and no number beyond
    a double (1e400 parses as infinity, which JSON cannot write back). Iterative: a deep document
    cannot exhaust the stack here (the parser already bounded its nesting)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or not _encodable(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _holds_unpaired_surrogate(text: str, value: Any) -> bool:
    """Only a \\uD800-\\uDFFF escape can produce one (UTF-8 decoding refused encoded ones), so the
    document is re-encoded to find out only when the text holds such an escape."""
    if not SURROGATE_ESCAPE.search(text):
        return False
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'the key "{key}" appears more than once.')
        result[key] = value
    return result


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value.")


def _malformed(message: str) -> InboundRefused:
    return InboundRefused(400, "validation_error", message, fields={"non_field_errors": [message]})


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or with TRUSTED_PROXY_COUNT = n > 0 the n-th X-Forwarded-For entry from the
    right: each trusted proxy appends the address it received from, so the entries further left
    are whatever the client chose to send. None when there is no usable address."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        candidate = hops[-proxies] if len(hops) >= proxies else ""
    else:
        candidate = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def headers_for_audit(request: HttpRequest) -> dict[str, str]:
    """The request's headers as received, minus credentials. A NUL character or half a surrogate
    pair, which no HTTP server should pass on (WSGI and ASGI decode headers as Latin-1) but jsonb
    cannot hold, is kept written out (\\u0000, \\ud800)."""
    return {
        _header_storable(name): _header_storable(value)
        for name, value in request.headers.items() if name.lower() not in HEADERS_NOT_KEPT
    }


def _header_storable(text: str) -> str:
    return text.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")
