"""The adapter contract: what the platform hands an adapter, and what it gets back.

An adapter turns the platform's request into one lender's HTTP calls and the lender's answers
into the platform's results. It receives frozen dataclasses, never ORM objects, and never
touches the database: the service that calls it records every attempt (apps/lenders/calls.py).

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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

# The failures are defined beside the HTTP client, which classifies answers into them; they are
# part of this contract and imported from here by adapters and the engine.
from apps.lenders.http import AdapterError, LenderHttpClient, PermanentFailure, TechnicalFailure
from apps.lenders.masking import Amount

__all__ = [
    "EMPLOYMENT_STATUSES", "JOURNEY_FIELDS", "PERSONAL_JOURNEY_FIELDS", "AdapterConfigurationError", "AdapterError",
    "AmountGroup", "CallbackResult", "Consumer", "Decision", "DecisionResult", "LenderAdapter", "LenderConfig", "Offer",
    "PROBE_TRACKING_PREFIX", "PermanentFailure", "PrequalifyRequest", "RejectionCategory", "SubmissionResult",
    "SubmitRequest", "TechnicalFailure", "is_probe_tracking_id", "probe_request",
]


class Decision(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    PENDING = "pending"


class RejectionCategory(enum.StrEnum):
    """The small taxonomy every lender's rejection reason is normalized into (the consumer sees
    one safe sentence per category: apps.lenders.selectors.rejection_sentence)."""

    INCOME = "income"
    AGE = "age"
    REGION = "region"
    EXISTING_CUSTOMER = "existing_customer"
    CREDIT_POLICY = "credit_policy"
    INCOMPLETE_DATA = "incomplete_data"
    OTHER = "other"


# Journey data an adapter may declare in `prequalify_fields` / `submit_fields` beyond identity
# and income, so the flow knows what to ask the consumer before that capability. Keys are the
# names the flow stores them under (Lead columns where Lead has one; otherwise
# apps.leads.engine.requests.lead_extra_data_set); values are the consumer-facing labels.
JOURNEY_FIELDS: dict[str, str] = {
    "email": "Correo electrónico",
    "phone": "Celular",
    "birth_date": "Fecha de nacimiento",
    "region": "Departamento",
    "requested_amount": "Monto solicitado",
    "employment_status": "Situación laboral",
    "address_line": "Dirección",
    "city": "Ciudad",
    "postal_code": "Código postal",
}
# The values `employment_status` may take (adapters map them to the lender's codes).
EMPLOYMENT_STATUSES = ("employed", "self_employed", "unemployed", "other")
# Journey fields that identify the person: masked in every stored exchange, like the identity.
PERSONAL_JOURNEY_FIELDS = ("email", "phone", "birth_date", "address_line")


@dataclass(frozen=True)
class LenderConfig:
    """The part of a Lender row an adapter may see.

    `options` is the style's own configuration when it has one (the mapped JSON adapter's URLs,
    templates and response paths).
    """

    code: str
    base_url: str
    timeout_seconds: float
    credentials: dict[str, Any] = field(default_factory=dict)
    environment: str = "staging"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Consumer:
    """Identity and income (capability 1), plus contact data once the consumer gives it (2).

    `birth_date` is ISO (YYYY-MM-DD), `region` an ISO 3166-2 code (CO-DC); `extra` holds the
    other JOURNEY_FIELDS the lender's adapter declared and the flow collected.
    """

    document_type: str
    document_number: str
    full_name: str
    monthly_income: int
    currency: str = "COP"
    email: str = ""
    phone: str = ""
    birth_date: str = ""
    region: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def first_name(self) -> str:
        return self.full_name.split()[0] if self.full_name.split() else ""

    @property
    def last_name(self) -> str:
        """Everything after the first word: Colombian names usually carry two surnames."""
        parts = self.full_name.split()
        return " ".join(parts[1:]) if len(parts) > 1 else ""

    def personal_values(self) -> list[str]:
        """Values that identify the person, and the income: masked wherever an exchange is stored
        or logged, in each spelling an adapter may send (a birth date as 1990-05-17 and 05/17/1990)."""
        values = [self.document_number, self.full_name, self.first_name, self.last_name, self.email, self.phone]
        if self.phone:
            values.append(self.phone.removeprefix("+57"))
        if self.birth_date:
            values.append(self.birth_date)
            year, _, rest = self.birth_date.partition("-")
            month, _, day = rest.partition("-")
            values.append(f"{month}/{day}/{year}")
        values += [str(self.extra.get(name, "")) for name in PERSONAL_JOURNEY_FIELDS]
        # The income as adapters send it: monthly, and yearly (offers_api, async_lead).
        values += [Amount(str(self.monthly_income)), Amount(str(self.monthly_income * 12))]
        return [value for value in values if value]


@dataclass(frozen=True)
class PrequalifyRequest:
    tracking_id: str
    product_id: str
    listing_id: str
    consumer: Consumer
    requested_amount: int | None = None


class AmountGroup(enum.StrEnum):
    """Where an offer's amount stands against the amount the consumer asked for (seed 002)."""

    REQUESTED = "requested"
    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True)
class Offer:
    lender_offer_id: str
    amount: Decimal
    term_months: int
    monthly_payment: Decimal
    annual_rate: Decimal
    currency: str = "COP"
    url: str = ""
    # Given by some lenders only (seed 003): the APR with fees, and the origination fee.
    apr: Decimal | None = None
    origination_fee: Decimal | None = None
    amount_group: str = ""


@dataclass(frozen=True)
class DecisionResult:
    """A lender's decision. A rejection keeps the lender's own words (`reason`, as stored on the
    Decision, and `reason_code` / `reason_text` apart) and, when the adapter knows it, the
    RejectionCategory; `notice_html` is an adverse action notice, already sanitized."""

    decision: Decision
    offers: tuple[Offer, ...] = ()
    reason: str = ""
    lender_reference: str = ""
    raw_response: Any = None
    reason_code: str = ""
    reason_text: str = ""
    reason_category: str = ""
    notice_html: str = ""


@dataclass(frozen=True)
class CallbackResult:
    """What a lender's callback says: which journey (by our tracking ID or the lender's own
    reference) and its decision now; `result` is None when there is nothing to record, and
    `failure` says why no decision will come."""

    tracking_id: str = ""
    lender_reference: str = ""
    result: DecisionResult | None = None
    # The lender says no decision will come for this journey (seed 002's timed_out).
    failure: str = ""


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


@dataclass(frozen=True)
class RevocationRequest:
    """The consumer revoked the consent under which the lender received their data for this
    journey: the lender is to stop processing it (Ley 1581 de 2012, art. 8 e). No personal data:
    the tracking ID and the lender's own reference name the application."""

    tracking_id: str
    revoked_at: str  # ISO 8601 with offset
    lender_reference: str = ""


@dataclass(frozen=True)
class RevocationResult:
    """The lender acknowledged the revocation."""

    status: str
    lender_reference: str = ""
    raw_response: Any = None


# The circuit breaker's probe (LenderAdapter.probe) is a decision request for a made-up consumer
# whose tracking ID is `probe-<uuid4>`, so a lender (every sandbox lender does) can tell it and
# answer without keeping anything. No journey's tracking ID can start so: a minted one is a UUID
# (hexadecimal) or `<origin code>_<UUID>` (an origin code has no dash).
PROBE_TRACKING_PREFIX = "probe-"
PROBE_CONSUMER = Consumer(
    document_type="CC", document_number="1000000000", full_name="Prosperas Probe", monthly_income=5_000_000,
    email="probe@prosperas.invalid", phone="+573000000000", birth_date="1990-01-01", region="CO-DC",
    extra={"employment_status": "employed", "address_line": "Calle 1 # 1-1", "city": "Bogotá", "postal_code": "110111"},
)


def probe_request() -> PrequalifyRequest:
    """A new probe's decision request: a fresh tracking ID each time (nothing to deduplicate)."""
    return PrequalifyRequest(tracking_id=f"{PROBE_TRACKING_PREFIX}{uuid.uuid4()}", product_id="probe",
                             listing_id="probe", consumer=PROBE_CONSUMER, requested_amount=1_000_000)


def is_probe_tracking_id(tracking_id: object) -> bool:
    return isinstance(tracking_id, str) and tracking_id.startswith(PROBE_TRACKING_PREFIX)


class AdapterConfigurationError(Exception):
    """The lender's configuration in Prosperas is wrong. Raised loudly, never retried."""


class LenderAdapter:
    """Base class: owns the HTTP plumbing; a subclass only translates requests and responses.

    Subclasses set `key` (their line in the registry, apps/lenders/adapters/__init__.py) and
    `label`, declare capabilities with `supports_submit`, `supports_poll` and
    `supports_callback` (and `supports_revocation`), name the credentials they read in `credential_names` (the admin offers
    a write-only input for each) and the sandbox module that plays their lender in
    `sandbox_module`, and implement `prequalify` (and `submit` / `poll` / `parse_callback` when
    supported) with `self.http`. One adapter instance serves one attempt: its HTTP client's
    deadline starts at the first request and covers every call the attempt makes.
    """

    key: ClassVar[str]
    # What staff read in the admin's choice of adapter (Lender.adapter's choices).
    label: ClassVar[str]
    # The module of apps/sandbox that plays this style's lender: it declares `SANDBOX` (its URLs,
    # the credentials it accepts, its demo lender, its contract-test data). A dotted path: the
    # lenders app never imports the sandbox, which sits above it.
    sandbox_module: ClassVar[str] = ""
    # "app_label.Model" of the style's own configuration, one row per lender with an
    # `as_options()` method (LenderConfig.options); the admin shows it inline on the lender.
    options_model: ClassVar[str] = ""
    supports_submit: ClassVar[bool] = True
    # A lender that can answer `pending` and be asked again later by tracking ID.
    supports_poll: ClassVar[bool] = False
    # A lender that calls us back on our per-lender callback URL (parse_callback).
    supports_callback: ClassVar[bool] = False
    # A lender whose API takes a consumer's revocation of consent (`revoke`); for the others the
    # revocation becomes a task for staff, who write to the lender's privacy contact.
    supports_revocation: ClassVar[bool] = False
    credential_names: ClassVar[tuple[str, ...]] = ()
    # JOURNEY_FIELDS the flow must collect before `prequalify` / `submit`, beyond identity and
    # income (`prequalify_fields`) or beyond what prequalify already needed (`submit_fields`).
    prequalify_fields: ClassVar[tuple[str, ...]] = ()
    submit_fields: ClassVar[tuple[str, ...]] = ("email", "phone")
    # Whether `consumer.extra` is read (LeadExtraData): False saves a query per call.
    reads_extra_data: ClassVar[bool] = True
    # How long to wait before asking again about a pending decision (shortened in tests).
    poll_interval_seconds: ClassVar[float] = 5.0
    @classmethod
    def declared_fields(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        """Every JOURNEY_FIELDS name this style sends a lender (beyond identity and income): what
        staff may approve for release to it (apps/lenders/release.py). A configurable style
        decides per lender."""
        return tuple(dict.fromkeys(cls.prequalify_fields + cls.submit_fields))

    @classmethod
    def submits(cls, options: Mapping[str, Any]) -> bool:
        """Whether this lender has a submission call; a configurable style decides per lender."""
        return cls.supports_submit

    @classmethod
    def polls(cls, options: Mapping[str, Any]) -> bool:
        return cls.supports_poll

    def __init__(self, config: LenderConfig, *, http: LenderHttpClient | None = None):
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

    def parse_callback(self, body: bytes) -> CallbackResult:
        """Only called when `supports_callback`: the lender's callback body, authenticated by the
        unguessable URL it arrived on. Raise TechnicalFailure for a body that cannot be read
        (we answer non-2xx and the lender sends it again)."""
        raise NotImplementedError

    def revoke(self, request: RevocationRequest, *, idempotency_key: str) -> RevocationResult:
        """Only called when `supports_revocation`: tell the lender the consumer revoked their
        consent, so it stops processing their data. Idempotent on the lender's side: a repeat
        (a retry) acknowledges again. Raise TechnicalFailure / PermanentFailure as `prequalify`."""
        raise NotImplementedError

    def probe(self) -> DecisionResult:
        """Does the lender's decision capability work? Asked by the circuit breaker, with no consumer.

        A style declares its probe here. The default is the capability itself: a real decision
        request for `probe_request()` (a made-up consumer under a `probe_` tracking ID that the
        sandbox lenders answer without keeping anything), read exactly as a consumer's answer is.
        Only an answer that parses as a decision (approved, rejected or pending) counts as up;
        a timeout, a reset, a 4xx, a 5xx or a body that is not the capability's answer raises, and
        the circuit stays open. A style whose lender documents a cheaper call that still proves
        the capability (a test decision, a sandbox endpoint) overrides this and returns its
        parsed answer.
        """
        return self.prequalify(probe_request(), idempotency_key=f"probe-{uuid.uuid4().hex}")
