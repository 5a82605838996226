#!/bin/sh
# Send a signed postback to Prosperas with curl and openssl.
#
#   PROSPERAS_URL=https://... PROSPERAS_KEY=... PROSPERAS_SECRET=... sh send_postback.sh CLICK_ID STATUS
#
# PROSPERAS_PATH=/api/v1/postbacks/test sends it to the tester instead (nothing is recorded).
set -eu
click_id="$1"  # exactly as Prosperas sent it: a UUID or org_UUID, so it needs no JSON escaping
status="$2"

# Write the body to a file once, then sign and send that file: the same bytes both times.
body_file="$(mktemp)"
trap 'rm -f "$body_file"' EXIT
printf '{"click_id":"%s","status":"%s"}' "$click_id" "$status" > "$body_file"

timestamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
nonce="$(openssl rand -hex 16)"  # a fresh one for every request, retries included
signature="$( { printf '%s.%s.' "$timestamp" "$nonce"; cat "$body_file"; } \
  | openssl dgst -sha256 -hmac "$PROSPERAS_SECRET" -r | cut -d' ' -f1)"

curl -sS -X POST "${PROSPERAS_URL%/}${PROSPERAS_PATH:-/api/v1/postbacks}" \
  -H "Content-Type: application/json" \
  -H "X-Prosperas-Key: $PROSPERAS_KEY" \
  -H "X-Prosperas-Timestamp: $timestamp" \
  -H "X-Prosperas-Nonce: $nonce" \
  -H "X-Prosperas-Signature: $signature" \
  --data-binary @"$body_file" \
  -w ' %{http_code}\n'
