"""The adapter contract: what the platform hands an adapter, and what it gets back.

An adapter turns the platform's request into one lender's HTTP calls and the lender's answers
into the platform's results. It receives frozen dataclasses, never ORM objects, and never
touches the database: the service that calls it records every attempt (apps/lenders/services.py).

Outcomes are a closed set (DESIGN.md §4):
- a result: `DecisionResult` (approved / rejected / pending) or `SubmissionResult` (submitted);
- `TechnicalFailure`: timeout, connection error, 5xx, 429, unparseable body. Retried.
- `PermanentFailure`: auth refused, the lender says our data is invalid. Not retried; staff see
  the lender's own messages.
- `AdapterConfigurationError`: our configuration is wrong (missing credential). Never swallowed.
A rejection is a business answer, returned as a result, and never retried.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from apps.lenders.http import Exchange, LenderHttpClient


class Decision(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    PENDING = "pending"


@dataclass(frozen=True)
class LenderConfig:
    """The part of a Lender row an adapter may see."""

    code: str
    base_url: str
    timeout_seconds: float
    credentials: dict[str, Any] = field(default_factory=dict)
    environment: str = "staging"


@dataclass(frozen=True)
class Consumer:
    """Identity and income (capability 1), plus contact data once the consumer gives it (2)."""

    document_type: str
    document_number: str
    full_name: str
    monthly_income: int
    currency: str = "COP"
    email: str = ""
    phone: str = ""

    def personal_values(self) -> list[str]:
        """Values that identify the person: masked wherever an exchange is stored or logged."""
        return [v for v in (self.document_number, self.full_name, self.email, self.phone) if v]


@dataclass(frozen=True)
class PrequalifyRequest:
    tracking_id: str
    product_id: str
    listing_id: str
    consumer: Consumer
    requested_amount: int | None = None


@dataclass(frozen=True)
class Offer:
    lender_offer_id: str
    amount: Decimal
    term_months: int
    monthly_payment: Decimal
    annual_rate: Decimal
    currency: str = "COP"
    url: str = ""


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision
    offers: tuple[Offer, ...] = ()
    reason: str = ""
    lender_reference: str = ""
    raw_response: Any = None


@dataclass(frozen=True)
class SubmitRequest:
    tracking_id: str
    product_id: str
    listing_id: str
    consumer: Consumer
    offer: Offer
    lender_reference: str = ""


@dataclass(frozen=True)
class SubmissionResult:
    status: str
    redirect_url: str
    lender_reference: str = ""
    raw_response: Any = None


class AdapterError(Exception):
    """Base of the failures an adapter raises; `exchange` is the HTTP exchange, if one happened."""

    permanent: ClassVar[bool] = False

    def __init__(self, message: str, *, exchange: Exchange | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.exchange = exchange
        self.details = details or []


class TechnicalFailure(AdapterError):
    """Timeout, connection error, 5xx, 429, unparseable body: worth retrying."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentFailure(AdapterError):
    """Auth refused, or the lender says our data is invalid: retrying would not help."""

    permanent = True


class AdapterConfigurationError(Exception):
    """The lender's configuration in Prosperas is wrong. Raised loudly, never retried."""


class LenderAdapter:
    """Base class: owns the HTTP plumbing; a subclass only translates requests and responses.

    Subclasses set `key` and `label`, declare capabilities with `supports_submit` and
    `supports_poll`, name the credentials they read in `credential_names` (the admin offers a
    write-only input for each), and implement `prequalify` (and `submit` / `poll` when
    supported) with `self.http`. One adapter instance serves one attempt: its HTTP client's
    deadline starts at the first request and covers every call the attempt makes.
    """

    key: ClassVar[str]
    label: ClassVar[str]
    supports_submit: ClassVar[bool] = True
    # A lender that can answer `pending` and be asked again later by tracking ID.
    supports_poll: ClassVar[bool] = False
    credential_names: ClassVar[tuple[str, ...]] = ()
    # Fields the flow must collect before `submit` (beyond identity and income).
    submit_fields: ClassVar[tuple[str, ...]] = ("email", "phone")

    def __init__(self, config: LenderConfig, *, http: LenderHttpClient | None = None):
        from apps.lenders.http import LenderHttpClient

        self.config = config
        self.http = http or LenderHttpClient(base_url=config.base_url, timeout_seconds=config.timeout_seconds)

    def credential(self, name: str) -> str:
        value = self.config.credentials.get(name)
        if not value:
            raise AdapterConfigurationError(f"Lender {self.config.code!r} has no {name!r} credential.")
        return str(value)

    def prequalify(self, request: PrequalifyRequest, *, idempotency_key: str) -> DecisionResult:
        raise NotImplementedError

    def submit(self, request: SubmitRequest, *, idempotency_key: str) -> SubmissionResult:
        """Only called when `supports_submit`; otherwise the chosen offer's URL is the redirect."""
        raise NotImplementedError

    def poll(self, tracking_id: str, *, lender_reference: str = "") -> DecisionResult:
        """Only called when `supports_poll`: the lender's current answer to a pending decision."""
        raise NotImplementedError
