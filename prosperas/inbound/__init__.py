"""Signed requests from lenders (postbacks, product data, lender callbacks): one implementation.

- signing: the HMAC over "{timestamp}.{nonce}.{raw body}", header names, timestamps and nonces
  (also used to sign outbound requests: the sandbox and the mapped adapter).
- body: size (413), content type (415), strict JSON (400), the client's address, audit headers.
- auth: the checks in order, the verifier table (hmac, api_key), against a key store that the
  app owning the credentials supplies (apps.lenders.signed_requests.LENDER_KEYS).
- refusals: InboundRefused (status, code, message, fields) and AuthenticationRefused (401).
- fields: strict serializer fields and unknown-field checks.
- views: JSONOnlyNegotiation and SignedInboundView, the base view of such an endpoint.

The project package is the bottom layer: nothing here imports apps.*; models and lookups come
in from the app through the key store.
"""
