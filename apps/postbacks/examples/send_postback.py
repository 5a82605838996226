"""Send a signed postback to Prosperas. Python 3.8+, standard library only.

    PROSPERAS_URL=https://... PROSPERAS_KEY=... PROSPERAS_SECRET=... python send_postback.py CLICK_ID STATUS

PROSPERAS_PATH=/api/v1/postbacks/test sends it to the tester instead (nothing is recorded).
"""

import hashlib
import hmac
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone


def sign(secret: str, timestamp: str, nonce: str, raw_body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of "{timestamp}.{nonce}.{raw body}" with your secret."""
    message = timestamp.encode() + b"." + nonce.encode() + b"." + raw_body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def send_postback(base_url: str, key: str, secret: str, payload: dict, path: str = "/api/v1/postbacks") -> tuple:
    # Serialize once and sign exactly the bytes you send.
    raw_body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    timestamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    nonce = secrets.token_urlsafe(24)  # a fresh one for every request, retries included
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=raw_body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Prosperas-Key": key,
            "X-Prosperas-Timestamp": timestamp,
            "X-Prosperas-Nonce": nonce,
            "X-Prosperas-Signature": sign(secret, timestamp, nonce, raw_body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:  # 4xx: the body says why
        return error.code, error.read().decode()


if __name__ == "__main__":
    click_id, status = sys.argv[1], sys.argv[2]  # click_id exactly as Prosperas sent it
    payload = {"click_id": click_id, "status": status}
    code, body = send_postback(os.environ["PROSPERAS_URL"], os.environ["PROSPERAS_KEY"],
                               os.environ["PROSPERAS_SECRET"], payload,
                               os.environ.get("PROSPERAS_PATH", "/api/v1/postbacks"))
    print(code, body)
