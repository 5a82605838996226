import hashlib
import ipaddress
import secrets

from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from apps.lenders.adapters import adapter_choices, adapter_class
from apps.lenders.adapters.mapped_spec import mapped_spec_errors
from prosperas.crypto import EncryptedJSONField, EncryptedTextField

# The bounds every lender call lives within (seed 001: 15-30 s timeouts, up to 3 retries).
TIMEOUT_MIN_SECONDS = 15
TIMEOUT_MAX_SECONDS = 30
MAX_RETRIES_LIMIT = 3


def validate_ip_allowlist(value: str) -> None:
    for entry in split_allowlist(value):
        try:
            ipaddress.ip_address(entry)
        except ValueError as exc:
            raise ValidationError(f"{entry!r} is not an IP address (addresses are matched exactly).") from exc


def split_allowlist(value: str) -> list[str]:
    return [part.strip() for part in value.replace(",", "\n").splitlines() if part.strip()]


def new_postback_key() -> str:
    """The public key a lender sends in X-Prosperas-Key: issued by the platform, never typed."""
    return "pk_" + secrets.token_urlsafe(24)


def new_postback_secret() -> str:
    """A postback secret (HMAC key, or the bearer key in api_key mode): 256 bits of randomness."""
    return "sk_" + secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """SHA-256 of a secret: how a credential row is found without decrypting any (last use, api keys)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_callback_token() -> str:
    """The unguessable part of a lender's callback URL (seed 002: "an unguessable random identifier")."""
    return secrets.token_urlsafe(32)


class CircuitState(models.TextChoices):
    """The circuit breaker of one lender. The catalog hides lenders whose circuit is open, and
    compare mode does not ask them; half-open lets calls through as probes."""

    CLOSED = "closed", "Closed (calls flow)"
    OPEN = "open", "Open (lender tripped: not called)"
    HALF_OPEN = "half_open", "Half-open (probing)"


# The lender's secrets: those a lender call needs (credentials) and those only the postback
# endpoint reads. Reads that need none leave them unread (they load on access).
POSTBACK_SECRET_FIELDS = ("postback_secret", "postback_secret_previous")
SECRET_FIELDS = ("credentials", *POSTBACK_SECRET_FIELDS)


class Lender(models.Model):
    class Environment(models.TextChoices):
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"

    class PostbackAuth(models.TextChoices):
        HMAC = "hmac", "HMAC signature (X-Prosperas-* headers)"
        API_KEY = "api_key", "Bearer API key"

    code = models.CharField(
        max_length=40, unique=True, validators=[RegexValidator(r"^[a-z0-9][a-z0-9-]{1,39}$")]
    )
    name = models.CharField(max_length=120)
    # A callable: the registry's styles, read when needed, so a new style needs no migration.
    adapter = models.CharField(max_length=40, choices=adapter_choices)
    base_url = models.URLField(max_length=500, help_text="The lender API's base URL for this environment.")
    environment = models.CharField(max_length=20, choices=Environment.choices, default=Environment.STAGING)
    is_active = models.BooleanField(default=True)
    # A production row names the staging row the same lender integrates against first: turning
    # the production row active needs a valid conformance certificate of that staging row
    # (apps/lenders/activation.py; the policy itself lives in the conformance app).
    staging_counterpart = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="production_counterpart",
        limit_choices_to={"environment": "staging"},
        help_text="Production rows only: this lender's staging row, whose conformance certificate activation needs.",
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(TIMEOUT_MIN_SECONDS), MaxValueValidator(TIMEOUT_MAX_SECONDS)],
        help_text="Hard deadline for one call attempt, 15-30 s.",
    )
    max_retries = models.PositiveSmallIntegerField(
        default=MAX_RETRIES_LIMIT,
        validators=[MaxValueValidator(MAX_RETRIES_LIMIT)],
        help_text="Retries after a technical failure (timeout, reset, 5xx, 429), at most 3.",
    )
    credentials = EncryptedJSONField(blank=True, help_text="Adapter credentials (API keys, client secrets).")
    # Journey fields staff approved to send this lender, beyond identity and income; only those
    # its adapter also declares leave (apps/lenders/release.py).
    released_fields = models.JSONField(
        default=list, blank=True,
        help_text="Consumer fields approved for release to this lender (those its adapter declares).",
    )

    postback_auth = models.CharField(max_length=10, choices=PostbackAuth.choices, default=PostbackAuth.HMAC)
    postback_key = models.CharField(
        max_length=64, unique=True, default=new_postback_key, editable=False,
        help_text="Public key the lender sends in X-Prosperas-Key (issued by the platform).",
    )
    # The three columns below are what the postback endpoint verifies with, kept by
    # apps.lenders.credentials from the lender's LenderCredential rows (never written otherwise):
    # the newest live secret, and during a rotation's overlap the one it replaced and until when.
    postback_secret = EncryptedTextField(
        blank=True, editable=False, help_text="HMAC secret, or the bearer API key in api_key mode.",
    )
    postback_secret_previous = EncryptedTextField(
        blank=True, editable=False, help_text="During a rotation: the old secret, still accepted until it expires.",
    )
    postback_secret_previous_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the previous secret stops verifying.",
    )
    postback_api_key_digest = models.CharField(
        max_length=64, blank=True, editable=False, db_index=True,
        help_text="SHA-256 of the bearer API key, to find the lender without decrypting every row.",
    )
    postback_ip_allowlist = models.TextField(
        blank=True, validators=[validate_ip_allowlist], help_text="One address per line; empty allows any."
    )

    pending_timeout_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(10), MaxValueValidator(24 * 3600)],
        help_text="A pending decision with no final answer after this long is given up (timed out); "
                  "the consumer is offered to try again.",
    )
    callback_token = models.CharField(
        max_length=64, unique=True, default=new_callback_token, editable=False,
        help_text="The unguessable part of this lender's callback URL.",
    )
    circuit_state = models.CharField(
        max_length=10, choices=CircuitState.choices, default=CircuitState.CLOSED, db_index=True,
    )
    circuit_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    circuit_note = models.CharField(max_length=512, blank=True, editable=False, help_text="Why the circuit last changed.")
    circuit_held_open = models.BooleanField(
        default=False, editable=False, help_text="Forced open by staff: probes do not close it until staff do.",
    )

    privacy_contact_email = models.EmailField(
        blank=True,
        help_text="Where a consumer's revocation of consent is sent when the lender's API cannot take it "
                  "(the lender's habeas data contact).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=TIMEOUT_MIN_SECONDS, timeout_seconds__lte=TIMEOUT_MAX_SECONDS),
                name="lender_timeout_within_bounds",
            ),
            models.CheckConstraint(condition=models.Q(max_retries__lte=MAX_RETRIES_LIMIT), name="lender_max_retries_limit"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code}, {self.environment})"

    def clean(self) -> None:
        counterpart = self.staging_counterpart
        if counterpart is None:
            return
        if self.environment != self.Environment.PRODUCTION:
            raise ValidationError({"staging_counterpart": "Only a production row names a staging counterpart."})
        if counterpart.environment != self.Environment.STAGING or counterpart.pk == self.pk:
            raise ValidationError({"staging_counterpart": "The counterpart must be another lender row, in staging."})

    @property
    def ip_allowlist(self) -> list[str]:
        return split_allowlist(self.postback_ip_allowlist)

    @staticmethod
    def api_key_digest(api_key: str) -> str:
        return hashlib.sha256(api_key.encode()).hexdigest()

    def adapter_options(self) -> dict:
        """The style's own configuration (LenderConfig.options): the `as_options()` of this
        lender's row of its adapter's `options_model`, or {} when the style has none."""
        label = adapter_class(self.adapter).options_model
        if not label or self.pk is None:
            return {}
        row = django_apps.get_model(label).objects.filter(lender_id=self.pk).first()
        return row.as_options() if row is not None else {}


class LenderCall(models.Model):
    """One attempt at one capability call to a lender: created before the call, completed after."""

    class Capability(models.TextChoices):
        PREQUALIFY = "prequalify", "Prequalify"
        SUBMIT = "submit", "Submit"
        POLL = "poll", "Poll (pending decision)"
        CALLBACK = "callback", "Callback (inbound, from the lender)"
        REVOKE = "revoke", "Revoke consent"

    class Outcome(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        PENDING = "pending", "Pending"
        SUBMITTED = "submitted", "Submitted"
        REVOKED = "revoked", "Revocation acknowledged"
        TECHNICAL_FAILURE = "technical_failure", "Technical failure"
        PERMANENT_FAILURE = "permanent_failure", "Permanent failure"

    lender = models.ForeignKey(Lender, on_delete=models.PROTECT, related_name="calls")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="lender_calls")
    capability = models.CharField(max_length=20, choices=Capability.choices)
    attempt = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.IN_FLIGHT)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="What went wrong, in the lender's words where it gave any.")
    request_method = models.CharField(max_length=10, blank=True)
    request_url = models.URLField(max_length=1000, blank=True)
    request_body = models.TextField(blank=True, help_text="Masked and truncated.")
    response_body = models.TextField(blank=True, help_text="Masked and truncated.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(
        null=True, blank=True,
        help_text="While in flight: the worker making the call renews this every few seconds (apps/lenders/leases.py); "
                  "once it has passed, the worker is gone and the call's work may be taken up again.",
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["lead", "capability", "lender"]), models.Index(fields=["lender", "-started_at"]),
            # The sweep looks for in-flight calls whose lease ran out: a handful among millions.
            models.Index(fields=["lease_expires_at"], condition=models.Q(outcome="in_flight"),
                         name="lender_call_in_flight_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.lender.code} {self.capability} #{self.attempt} {self.outcome}"


class CircuitChange(models.Model):
    """Each move of a lender's circuit breaker (apps/lenders/circuit.py), appended as it happens:
    the Lender row keeps only the current state; the dashboards chart the history."""

    lender = models.ForeignKey(Lender, on_delete=models.CASCADE, related_name="circuit_changes", db_index=False)
    from_state = models.CharField(max_length=10, choices=CircuitState.choices)
    to_state = models.CharField(max_length=10, choices=CircuitState.choices)
    note = models.CharField(max_length=512, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["lender", "-changed_at"]), models.Index(fields=["changed_at"])]

    def __str__(self) -> str:
        return f"{self.lender_id}: {self.from_state} -> {self.to_state}"


class MappedApi(models.Model):
    """A lender with a plain JSON API described by staff instead of code (adapter "mapped_json").

    Request templates are JSON with `{{placeholders}}`; response paths are dotted
    (`data.offers`, `result.0.id`). Validated on save (apps/lenders/adapters/mapped_spec.py).
    """

    class Auth(models.TextChoices):
        NONE = "none", "None"
        API_KEY_HEADER = "api_key_header", "API key in a header (credential api_key)"
        BEARER = "bearer", "Bearer token (credential api_key)"
        HMAC = "hmac", "HMAC SHA-256 signature, seed 004 §2 (credentials hmac_key, hmac_secret)"

    lender = models.OneToOneField(Lender, on_delete=models.CASCADE, related_name="mapped_api")
    auth = models.CharField(max_length=20, choices=Auth.choices, default=Auth.API_KEY_HEADER)
    api_key_header = models.CharField(max_length=60, default="X-Api-Key", blank=True)
    hmac_header_prefix = models.CharField(
        max_length=30, default="X-Axis-", blank=True,
        help_text="HMAC headers: <prefix>Provider-Key, <prefix>Timestamp, <prefix>Nonce, <prefix>Signature.",
    )
    unwrap_data = models.BooleanField(
        default=True, help_text='Answers may come in an envelope {"data": {...}}: read inside it when present.'
    )

    prequalify_path = models.CharField(max_length=300, help_text="Relative to base URL, e.g. solicitudes.")
    prequalify_template = models.TextField(help_text="JSON body with {{placeholders}} (see the list below).")
    tracking_id_path = models.CharField(max_length=200, blank=True, help_text="Where the answer echoes our tracking ID (checked exactly).")
    decision_path = models.CharField(max_length=200, help_text="Where the decision is, e.g. data.estado.")
    approved_values = models.CharField(max_length=300, help_text="Comma-separated values meaning approved.")
    rejected_values = models.CharField(max_length=300, help_text="Comma-separated values meaning rejected.")
    pending_values = models.CharField(max_length=300, blank=True, help_text="Comma-separated values meaning pending.")
    reason_code_path = models.CharField(max_length=200, blank=True)
    reason_text_path = models.CharField(max_length=200, blank=True)
    reason_categories = models.TextField(
        blank=True, help_text="One per line: LENDER_CODE = category (income, age, region, existing_customer, "
                              "credit_policy, incomplete_data, other).",
    )
    reference_path = models.CharField(max_length=200, blank=True, help_text="The lender's application reference.")
    offers_path = models.CharField(max_length=200, blank=True, help_text="The list of offers, e.g. data.ofertas.")
    offer_id_path = models.CharField(max_length=100, blank=True, default="id")
    offer_amount_path = models.CharField(max_length=100, blank=True, default="amount")
    offer_term_path = models.CharField(max_length=100, blank=True, default="termMonths")
    offer_payment_path = models.CharField(max_length=100, blank=True, default="monthlyPayment")
    offer_rate_path = models.CharField(max_length=100, blank=True, default="annualRate")
    offer_url_path = models.CharField(max_length=100, blank=True)
    errors_path = models.CharField(max_length=200, blank=True, default="errors", help_text="Field errors on 400/422.")
    error_field_path = models.CharField(max_length=100, blank=True, default="field")
    error_message_path = models.CharField(max_length=100, blank=True, default="message")

    poll_path = models.CharField(
        max_length=300, blank=True, help_text="GET path for a pending decision, e.g. solicitudes/{{tracking_id}}; blank: no polling.",
    )
    submit_path = models.CharField(max_length=300, blank=True, help_text="Blank: no submission call (the offer URL is the redirect).")
    submit_template = models.TextField(blank=True)
    submit_status_path = models.CharField(max_length=200, blank=True)
    submit_redirect_path = models.CharField(max_length=200, blank=True)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "mapped JSON API"
        verbose_name_plural = "mapped JSON APIs"

    def __str__(self) -> str:
        return f"Mapped API of {self.lender.code}"

    def clean(self) -> None:
        """Validated on save (admin): templates parse, placeholders and paths are known."""
        errors = mapped_spec_errors(self.as_options())
        if errors:
            raise ValidationError(errors)

    def as_options(self) -> dict:
        return {
            field.name: getattr(self, field.name)
            for field in self._meta.fields if field.name not in ("id", "lender", "updated_at")
        }


# --- Signed requests from lenders (apps.lenders.signed_requests) ------------------------------


class PostbackNonce(models.Model):
    """Nonces of a lender's signed requests that record no postback event, kept past the timestamp
    tolerance so a replay is refused: the product data API's, and the postback tester's. (The
    postback endpoint keeps each nonce on the event it came with: PostbackEvent.nonce.)

    In the database so that every web process sees the same set and restarts forget nothing.
    The postback tester keeps its nonces apart (`tester`), so trying a request on the tester
    never burns the nonce for the real endpoint, and the tester still shows a replay refusal.
    """

    lender = models.ForeignKey(Lender, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=128)
    tester = models.BooleanField(default=False, help_text="Seen by the postback tester, not the real endpoint.")
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "postbacks_postbacknonce"  # created by the postbacks app, which first had it
        constraints = [
            models.UniqueConstraint(
                fields=["lender", "tester", "nonce"], name="postback_nonce_once_per_lender_and_use"
            ),
        ]


def refusal_hour(moment=None):
    """The start of the hour refusals seen at `moment` (now) are counted in."""
    return (moment or timezone.now()).replace(minute=0, second=0, microsecond=0)


class PostbackAuthFailure(models.Model):
    """Refusals of a lender's signed requests at authentication (postbacks, product data),
    counted: one row per key, client address, reason and hour, however many requests it counts
    (a flood of bad signatures adds to a count instead of writing a row each).

    `key` is the key the requests named when it belongs to a lender (its public key, or
    `bearer:` and the start of the bearer key's SHA-256, never the key itself); a key that names
    nobody is counted under "", so made-up keys cannot add rows. `samples` keeps the first few
    refused requests of the row (LENDER_REFUSAL_SAMPLES): their headers without credentials and
    their body masked (apps.lenders.masking) and cut short, for staff to see what went wrong.
    Written by apps.lenders.signed_requests.refusal_record.
    """

    lender = models.ForeignKey(Lender, on_delete=models.CASCADE, null=True, related_name="+")
    key = models.CharField(max_length=128, blank=True, default="")
    reason = models.CharField(max_length=40)
    source_ip = models.GenericIPAddressField(null=True)
    hour = models.DateTimeField(default=refusal_hour, db_index=True, help_text="The hour counted in (its start).")
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    samples = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "postbacks_postbackauthfailure"  # created by the postbacks app, which first had it
        verbose_name = "refused signed request (counted)"
        verbose_name_plural = "refused signed requests (counted)"
        constraints = [
            # NULLS NOT DISTINCT: an unknown key (no lender) or address counts in one row too.
            models.UniqueConstraint(fields=["lender", "key", "reason", "source_ip", "hour"],
                                    name="refusal_count_one_row_per_bucket", nulls_distinct=False),
        ]



class LenderCredential(models.Model):
    """A postback secret the platform issued to one lender row (so one environment). The newest
    live one verifies; during a rotation the one it replaced verifies too until `expires_at`;
    a revoked one never again. apps.lenders.credentials issues, rotates and revokes them and
    keeps the lender's verification columns (postback_secret, postback_secret_previous) in step."""

    lender = models.ForeignKey(Lender, on_delete=models.CASCADE, related_name="postback_credentials")
    secret = EncryptedTextField()
    # Indexed: a bearer key that is not the lender's current one is looked up here (rotation).
    digest = models.CharField(max_length=64, editable=False, db_index=True, help_text="SHA-256 of the secret.")
    issued_by = models.CharField(max_length=160, blank=True, help_text="Who asked for it (staff, a lender user).")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Set by a rotation: verifies until then.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Last request it verified (recorded at most once a minute per process).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lender", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.lender.code} credential {self.fingerprint}"

    @property
    def fingerprint(self) -> str:
        """What people see of it: the start of its digest, which tells credentials apart and
        reveals nothing of the secret."""
        return self.digest[:10]

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at:
            return "revoked"
        if self.expires_at is None:
            return "active"
        return "expiring" if self.expires_at > now else "expired"


class CredentialHandover(models.Model):
    """A one-time, expiring link that shows a credential's secret to the lender's technical
    contact: opened once, then dead. Only the token's digest is stored."""

    credential = models.ForeignKey(LenderCredential, on_delete=models.CASCADE, related_name="handovers")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.CharField(max_length=160, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"handover of {self.credential}"


# The call statistics' rollup: its own module, for size.
from apps.lenders.stats_models import LenderCallSpan, LenderCallSpanMark  # noqa: E402, F401
