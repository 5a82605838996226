"""Staff see every lead's full timeline on one page: steps, decisions, lender calls, postbacks
(the postbacks app adds those: apps/postbacks/admin.py), and the marketplace's funnel report.

Personal data is shown masked; leads are changed only through the journey and postback services.
"""

from datetime import date

import nh3
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from apps.campaigns.selectors import marketplace_day
from apps.leads import reports
from apps.leads.models import (
    Consent,
    Decision,
    Lead,
    LeadEvent,
    LeadNotification,
    Offer,
    OutboxMessage,
    PersonalDataReveal,
    ResumeLink,
    RevocationNotice,
    Submission,
)
from apps.leads.outbox import BACKEND_PATH as OUTBOX_BACKEND
from apps.leads.reveals import PERMISSION as REVEAL_PERMISSION
from apps.leads.reveals import RevealRefused, lead_personal_data_reveal, reveal_active
from apps.leads.revocation import revocation_notice_done
from apps.leads.staff_actions import ACTIONS, LeadActionRefused, lead_staff_act
from apps.lenders.models import LenderCall
from prosperas.admin_inlines import ReadOnlyInline
from prosperas.admin_paging import LargeTableAdminMixin
from prosperas.crypto import mask


class FunnelFilterForm(forms.Form):
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(choices=list(reports.GROUPS.items()), required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            raise forms.ValidationError("The period must start before it ends.")
        return cleaned


class LeadEventInline(ReadOnlyInline):
    model = LeadEvent
    fields = ["created_at", "kind", "status", "message"]
    readonly_fields = fields
    show_change_link = False


class DecisionInline(ReadOnlyInline):
    model = Decision
    fields = ["lender", "outcome", "reason", "lender_reference", "created_at", "offers_summary"]
    readonly_fields = fields

    @admin.display(description="Offers")
    def offers_summary(self, decision):
        return format_html_join(
            "", "<div>{} {} / {} months at {}</div>",
            ((o.amount, o.currency, o.term_months, o.annual_rate) for o in decision.offers.all()),
        )


class LenderCallInline(ReadOnlyInline):
    model = LenderCall
    fields = ["started_at", "lender", "capability", "attempt", "outcome", "http_status", "duration_ms", "error"]
    readonly_fields = fields


class ConsentInline(ReadOnlyInline):
    model = Consent
    fields = ["kind", "text_version", "language", "text", "accepted_at", "ip_address"]
    readonly_fields = fields
    show_change_link = False


class RevocationNoticeInline(ReadOnlyInline):
    model = RevocationNotice
    fields = ["lender", "channel", "state", "error", "created_at", "done_at", "done_by"]
    readonly_fields = fields
    show_change_link = True


class NotificationInline(ReadOnlyInline):
    model = LeadNotification
    fields = ["created_at", "channel", "lead_status", "language", "state", "sent_at", "error"]
    readonly_fields = fields
    show_change_link = False


class ResumeLinkInline(ReadOnlyInline):
    """The one-time links the result emails carried: when each expires and whether it was used
    (the token itself is never stored)."""

    model = ResumeLink
    fields = ["created_at", "expires_at", "used_at"]
    readonly_fields = fields
    show_change_link = False


class SubmissionInline(ReadOnlyInline):
    model = Submission
    fields = ["status", "redirect_url", "lender_reference", "created_at"]
    readonly_fields = fields
    show_change_link = False


@admin.register(Lead)
class LeadAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["tracking_id", "origin", "lender", "status", "needs_review", "created_at"]
    list_filter = ["status", "needs_review", "origin", "lender", "monthly_income_band", "created_at"]
    # Exact and case-sensitive, as tracking IDs are compared (DESIGN.md §3): each hits an index.
    search_fields = ["tracking_id__exact", "lender_reference__exact"]
    list_select_related = ["origin", "lender"]
    # No date_hierarchy: its links cost a DISTINCT over every row the filters leave (admin at
    # size); the date filter in the sidebar asks nothing of the database.
    fieldsets = [
        (None, {"fields": ["tracking_id", "status", "needs_review", "origin", "lender", "campaign", "listing", "product"]}),
        ("Consumer (masked)", {"fields": ["document_type", "document_number_masked", "full_name_masked",
                                          "email_masked", "phone_masked", "birth_date_masked", "region",
                                          "monthly_income_masked", "currency", "language"]}),
        ("Application", {"fields": ["compare_mode", "consent_revoked_at", "origin_reference", "requested_amount", "requested_term_months",
                                    "chosen_offer", "lender_reference", "redirect_url", "handoff_url"]}),
        ("Timestamps", {"fields": ["created_at", "identity_at", "result_email_requested_at", "decided_at",
                                   "submitted_at", "handed_off_at", "lender_status_at", "updated_at"]}),
    ]
    inlines = [LeadEventInline, DecisionInline, SubmissionInline, LenderCallInline, ConsentInline,
               RevocationNoticeInline, NotificationInline, ResumeLinkInline]
    actions = ["mark_reviewed"]

    def get_fieldsets(self, request, obj=None):
        reveal = reveal_active(lead_id=obj.pk, staff=request.user) if obj is not None else None
        if reveal is None:
            return self.fieldsets
        # Shown unmasked only to this user, while their reveal runs (apps/leads/reveals.py).
        consumer = (f"Consumer (revealed to you until {timezone.localtime(reveal.expires_at):%H:%M})",
                    {"fields": [REVEALED.get(field, field) for field in self.fieldsets[1][1]["fields"]]})
        return [self.fieldsets[0], consumer, *self.fieldsets[2:]]

    def get_readonly_fields(self, request, obj=None):
        fieldsets = self.get_fieldsets(request, obj)
        return [field for fieldset in fieldsets for field in fieldset[1]["fields"] if field != "needs_review"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Document number")
    def document_number_masked(self, lead):
        return mask(lead.document_number)

    @admin.display(description="Full name")
    def full_name_masked(self, lead):
        return " ".join(part[:1] + "•" * (len(part) - 1) for part in lead.full_name.split())

    @admin.display(description="Email")
    def email_masked(self, lead):
        return _email_masked(lead.email)

    @admin.display(description="Birth date")
    def birth_date_masked(self, lead):
        return f"{lead.birth_date[:4]}-••-••" if lead.birth_date else ""

    @admin.display(description="Monthly income")
    def monthly_income_masked(self, lead):
        """Its band only: the amount itself is personal data, kept encrypted."""
        return lead.get_monthly_income_band_display() if lead.monthly_income_band is not None else ""

    @admin.display(description="Phone")
    def phone_masked(self, lead):
        return mask(lead.phone, keep=3)

    # Unmasked, only ever in the fieldsets of a user whose reveal of this lead runs (get_fieldsets).
    @admin.display(description="Document number")
    def document_number_revealed(self, lead):
        return lead.document_number

    @admin.display(description="Full name")
    def full_name_revealed(self, lead):
        return lead.full_name

    @admin.display(description="Email")
    def email_revealed(self, lead):
        return lead.email

    @admin.display(description="Phone")
    def phone_revealed(self, lead):
        return lead.phone

    @admin.display(description="Birth date")
    def birth_date_revealed(self, lead):
        return lead.birth_date

    @admin.display(description="Monthly income")
    def monthly_income_revealed(self, lead):
        return f"{lead.monthly_income:,} {lead.currency}" if lead.monthly_income is not None else ""

    # --- The marketplace's funnel report ---------------------------------------------------------------------

    def get_urls(self):
        report = path("funnel-report/", self.admin_site.admin_view(self.report_view), name="leads_lead_funnel_report")
        act = path("<int:pk>/act/", self.admin_site.admin_view(require_POST(self.act_view)), name="leads_lead_act")
        reveal = path("<int:pk>/reveal/", self.admin_site.admin_view(require_POST(self.reveal_view)),
                      name="leads_lead_reveal")
        return [report, act, reveal, *super().get_urls()]

    # --- Staff actions on one lead (apps/leads/staff_actions.py) -------------------------------------------------

    def staff_actions_for(self, request: HttpRequest) -> list:
        return [action for action in ACTIONS.values() if request.user.has_perm(f"leads.{action.permission}")]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "staff_actions": self.staff_actions_for(request),
                         "can_reveal": request.user.has_perm(REVEAL_PERMISSION),
                         "reveal_minutes": settings.PERSONAL_DATA_REVEAL_MINUTES}
        return super().change_view(request, object_id, form_url, extra_context)

    def act_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        action = ACTIONS.get(request.POST.get("action", ""))
        if action is None or not request.user.has_perm(f"leads.{action.permission}"):
            return HttpResponseForbidden("You may not take that action on leads.")
        try:
            done = lead_staff_act(lead_id=pk, action=action.name, staff=request.user, text=request.POST.get("text", ""))
        except LeadActionRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
        else:
            self.message_user(request, f"Done: {done}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[pk]))

    def reveal_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm(REVEAL_PERMISSION):
            return HttpResponseForbidden("You may not see consumers' personal data unmasked.")
        try:
            reveal = lead_personal_data_reveal(lead_id=pk, staff=request.user, reason=request.POST.get("reason", ""))
        except RevealRefused as refused:
            self.message_user(request, str(refused), messages.ERROR)
        else:
            until = timezone.localtime(reveal.expires_at)
            self.message_user(request, f"Personal data shown to you until {until:%H:%M}; this is logged.",
                              messages.WARNING)
        return HttpResponseRedirect(reverse("admin:leads_lead_change", args=[pk]))

    def report_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        today = marketplace_day()
        default_from, default_to = reports.funnel_defaults(today)
        form = FunnelFilterForm(request.GET or None, initial={"date_from": default_from, "date_to": default_to})
        date_from, date_to, group_by = default_from, default_to, "campaign"
        if form.is_valid():
            date_from = form.cleaned_data["date_from"] or default_from
            date_to = form.cleaned_data["date_to"] or default_to
            group_by = form.cleaned_data["group_by"] or "campaign"
        report = reports.funnel_report(date_from=date_from, date_to=date_to, group_by=group_by)
        if request.GET.get("format") == "csv":
            response = HttpResponse(reports.funnel_report_csv(report), content_type="text/csv; charset=utf-8")
            filename = f"funnel-{group_by}-{date_from:%Y%m%d}-{date_to:%Y%m%d}.csv"
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return response
        rows = [
            {"row": row, "counts": [row.counts[name] for name, _ in reports.STAGES],
             "costs": [row.cost_per(stage) for stage, _ in reports.COST_STAGES]}
            for row in report.rows
        ]
        query = request.GET.copy()
        query["format"] = "csv"
        context = {
            **self.admin_site.each_context(request), "title": "Marketplace funnel", "opts": self.model._meta,
            "form": form, "report": report, "rows": rows, "stages": reports.STAGES, "cost_stages": reports.COST_STAGES,
            "group_label": reports.GROUPS[report.group_by], "csv_query": query.urlencode(),
        }
        return TemplateResponse(request, "admin/leads/lead/funnel_report.html", context)

    @admin.action(description="Mark as reviewed (clear the review flag)")
    def mark_reviewed(self, request, queryset):
        updated = queryset.update(needs_review=False)
        self.message_user(request, f"{updated} lead(s) marked as reviewed.")


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ["lender_offer_id", "decision", "amount", "currency", "term_months", "annual_rate"]
    search_fields = ["lender_offer_id", "decision__lead__tracking_id"]
    readonly_fields = [f.name for f in Offer._meta.fields]
    list_select_related = ["decision__lender"]

    def has_add_permission(self, request):
        return False


@admin.register(PersonalDataReveal)
class PersonalDataRevealAdmin(admin.ModelAdmin):
    """Who saw which consumer's personal data, why and until when (also in the audit log)."""

    list_display = ["created_at", "lead", "staff", "reason", "expires_at"]
    list_select_related = ["lead", "staff"]
    list_filter = ["staff"]
    search_fields = ["=lead__tracking_id"]
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxAdmin(admin.ModelAdmin):
    """The demo's emails (apps/leads/outbox.py), for staff to read: never changed or sent from here.
    Listed only while the outbox backend is the one in use (DEBUG)."""

    list_display = ["created_at", "recipients_masked", "subject"]
    date_hierarchy = "created_at"
    fields = ["created_at", "sender", "recipients_masked", "subject", "message"]
    readonly_fields = fields

    def has_module_permission(self, request):
        return settings.EMAIL_BACKEND == OUTBOX_BACKEND and super().has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="To")
    def recipients_masked(self, message):
        return ", ".join(_email_masked(address.strip()) for address in message.recipients.split(","))

    @admin.display(description="Message")
    def message(self, message):
        """The HTML as the consumer's mail program shows it, sanitized (no scripts, no styles: the
        admin's content security policy allows neither), then the plain-text part."""
        html = nh3.clean(message.html_body, tags=OUTBOX_HTML_TAGS) if message.html_body else ""
        return format_html('<div class="outbox-html">{}</div><pre class="outbox-text">{}</pre>',
                           mark_safe(html), message.text_body)  # noqa: S308 - sanitized by nh3 just above


REVEALED = {f"{name}_masked": f"{name}_revealed" for name in
            ("document_number", "full_name", "email", "phone", "birth_date", "monthly_income")}
OUTBOX_HTML_TAGS = {"p", "a", "strong", "em", "b", "i", "br", "div", "span", "ul", "ol", "li", "h1", "h2", "h3"}


def _email_masked(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else mask(address)


@admin.register(RevocationNotice)
class RevocationNoticeAdmin(admin.ModelAdmin):
    """Consumers' revocations to pass on to lenders. Those marked "by staff" are the lenders whose
    API cannot take one: write to the lender's privacy contact naming the tracking ID (never the
    consumer's data), then mark the notice done. Failed API notices are followed up the same way."""

    list_display = ["created_at", "lender", "lender_contact", "tracking_id", "channel", "state", "done_at"]
    list_filter = ["state", "channel", "lender"]
    list_select_related = ["lender", "lead"]
    fields = ["lead", "tracking_id", "lender", "lender_contact", "channel", "state", "error", "created_at", "done_at",
              "done_by"]
    readonly_fields = fields
    actions = ["mark_done"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Lender's privacy contact")
    def lender_contact(self, notice):
        email = notice.lender.privacy_contact_email
        return format_html('<a href="mailto:{}">{}</a>', email, email) if email else "— (set it on the lender)"

    @admin.display(description="Tracking ID")
    def tracking_id(self, notice):
        return notice.lead.tracking_id

    @admin.action(description="Mark done: the lender was told", permissions=["change"])
    def mark_done(self, request, queryset):
        done = sum(revocation_notice_done(notice_id=pk, user=request.user) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{done} revocation notices marked done.", messages.SUCCESS)
