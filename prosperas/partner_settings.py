"""Settings of lender onboarding (credentials the platform issues, the lender portal), read from
the environment by prosperas/settings.py. Each variable is listed in README.md."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ImproperlyConfigured


def egress_addresses(env, name: str) -> list[str]:
    """The addresses our calls to lenders leave from, for one environment: lenders allowlist them."""
    addresses = env.list(name, default=[])
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {address!r} is not an IP address.") from exc
    return addresses


def partner_settings(env) -> dict:
    return {
        # Published on the lender docs page (/docs/postbacks/), per lender environment.
        "EGRESS_IPS": {
            "staging": egress_addresses(env, "EGRESS_IPS_STAGING"),
            "production": egress_addresses(env, "EGRESS_IPS_PRODUCTION"),
        },
        # A rotated-out postback secret keeps verifying this long (the overlap window).
        "LENDER_CREDENTIAL_OVERLAP_HOURS": env.int("LENDER_CREDENTIAL_OVERLAP_HOURS", default=72),
        # The one-time link that hands a secret to a lender's technical contact.
        "LENDER_HANDOVER_HOURS": env.int("LENDER_HANDOVER_HOURS", default=48),
        # Invitations to the lender portal.
        "PARTNER_INVITATION_HOURS": env.int("PARTNER_INVITATION_HOURS", default=72),
        "PARTNER_OTP_ISSUER": "Prosperas partners",
    }
