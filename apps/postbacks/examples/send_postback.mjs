// Send a signed postback to Prosperas. Node.js 18+, no dependencies.
//
//   PROSPERAS_URL=https://... PROSPERAS_KEY=... PROSPERAS_SECRET=... node send_postback.mjs CLICK_ID STATUS
//
// PROSPERAS_PATH=/api/v1/postbacks/test sends it to the tester instead (nothing is recorded).
import { createHmac, randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";

// Lowercase hex HMAC-SHA256 of "{timestamp}.{nonce}.{raw body}" with your secret.
export function sign(secret, timestamp, nonce, rawBody) {
  return createHmac("sha256", secret).update(`${timestamp}.${nonce}.`).update(rawBody).digest("hex");
}

export async function sendPostback(baseUrl, key, secret, payload, path = "/api/v1/postbacks") {
  const rawBody = Buffer.from(JSON.stringify(payload), "utf8"); // sign exactly the bytes you send
  const timestamp = new Date().toISOString(); // e.g. 2026-06-03T12:00:00.000Z
  const nonce = randomBytes(18).toString("base64url"); // a fresh one for every request, retries included
  const response = await fetch(baseUrl.replace(/\/$/, "") + path, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Prosperas-Key": key,
      "X-Prosperas-Timestamp": timestamp,
      "X-Prosperas-Nonce": nonce,
      "X-Prosperas-Signature": sign(secret, timestamp, nonce, rawBody),
    },
    body: rawBody,
    signal: AbortSignal.timeout(15000),
  });
  return { status: response.status, body: await response.text() };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [clickId, status] = process.argv.slice(2); // clickId exactly as Prosperas sent it
  const { PROSPERAS_URL, PROSPERAS_KEY, PROSPERAS_SECRET, PROSPERAS_PATH } = process.env;
  const result = await sendPostback(PROSPERAS_URL, PROSPERAS_KEY, PROSPERAS_SECRET, { click_id: clickId, status },
                                    PROSPERAS_PATH || "/api/v1/postbacks");
  console.log(result.status, result.body);
}
