"""Postbacks for staff: every recorded event, read-only, and refusals counted per lender and reason."""

import json

from django.contrib import admin, messages
from django.db.models import Q, Sum
from django.utils.html import format_html

from apps.leads.models import Lead
from apps.lenders.models import PostbackAuthFailure
from apps.postbacks.models import PostbackEvent
from apps.postbacks.services import postback_follow_ups_retry
from prosperas.admin_inlines import ReadOnlyInline
from prosperas.admin_paging import LargeTableAdminMixin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit records: staff look, nobody edits or deletes them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class FollowUpFilter(admin.SimpleListFilter):
    """Where an event's follow-up (the consumer's email, the campaign's charge) stands: "failed"
    lists those given up after POSTBACK_FOLLOW_UP_MAX_ATTEMPTS, to fix and retry."""

    title = "follow-up"
    parameter_name = "follow_up"
    STATES = {
        "done": Q(followed_up_at__isnull=False),
        "due": Q(followed_up_at__isnull=True, follow_up_failed_at__isnull=True),
        "retrying": Q(followed_up_at__isnull=True, follow_up_failed_at__isnull=True, follow_up_attempts__gt=0),
        "failed": Q(followed_up_at__isnull=True, follow_up_failed_at__isnull=False),
    }

    def lookups(self, request, model_admin):
        return [("done", "Done"), ("due", "Due"), ("retrying", "Failing, will try again"),
                ("failed", "Failed (given up)")]

    def queryset(self, request, queryset):
        condition = self.STATES.get(self.value())
        return queryset if condition is None else queryset.filter(condition)


@admin.register(PostbackEvent)
class PostbackEventAdmin(LargeTableAdminMixin, ReadOnlyAdmin):
    list_display = ["received_at", "lender", "click_id", "status", "effect", "is_repeat", "follow_up"]
    list_filter = ["lender", "status", "effect", "is_repeat", FollowUpFilter, "received_at"]
    actions = ["follow_up_retry"]
    search_fields = ["click_id__exact", "event_id__exact"]  # exact: each by its index
    list_select_related = ["lender"]
    # No date_hierarchy: its links cost a DISTINCT over every row the filters leave (admin at
    # size); the date filter in the sidebar asks nothing of the database.
    fields = [
        "received_at", "lender", "lead", "click_id", "looks_like", "status", "effect", "is_repeat", "event_id",
        "occurred_at",
        "product_id", "amount", "currency", "reason", "lender_reference", "metadata_pretty", "source_ip",
        "headers_pretty", "raw_body_text", "nonce", "followed_up_at", "follow_up_attempts", "follow_up_error",
        "follow_up_next_at", "follow_up_failed_at",
    ]
    readonly_fields = fields

    @admin.display(description="Follow-up")
    def follow_up(self, obj: PostbackEvent) -> str:
        if obj.followed_up_at is not None:
            return "done"
        if obj.follow_up_failed_at is not None:
            return format_html('<strong class="errornote-inline">failed</strong> ({} tries): {}',
                               obj.follow_up_attempts, obj.follow_up_error)
        return f"due, {obj.follow_up_attempts} failed tries" if obj.follow_up_attempts else "due"

    @admin.action(description="Retry the follow-up (email, campaign charge) of the selected events")
    def follow_up_retry(self, request, queryset):
        count = postback_follow_ups_retry(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} follow-up(s) will be tried again within seconds; events already "
                          "followed up were left as they are.", messages.SUCCESS)

    @admin.display(description="Raw body (as received, decoded as UTF-8)")
    def raw_body_text(self, obj: PostbackEvent) -> str:
        text = bytes(obj.raw_body).decode("utf-8", "replace")
        return format_html('<pre class="admin-pre-wrap">{}</pre>', text)

    @admin.display(description="Headers (without credentials)")
    def headers_pretty(self, obj: PostbackEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, ensure_ascii=False))

    @admin.display(description="Metadata")
    def metadata_pretty(self, obj: PostbackEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.metadata, indent=2, ensure_ascii=False))


@admin.register(PostbackAuthFailure)
class PostbackAuthFailureAdmin(ReadOnlyAdmin):
    """Refusals, counted per key, address, reason and hour (one row each, however many requests),
    with the first few of each row kept as samples. Above the list, the counts (as filtered)
    summed per lender and reason: a lender whose requests all fail stale_timestamp has a clock to
    fix; many unknown_key from one address is someone probing."""

    change_list_template = "postbacks/admin/auth_failure_change_list.html"
    list_display = ["hour", "lender", "key", "reason", "source_ip", "count", "first_seen_at", "last_seen_at"]
    list_filter = ["reason", "lender"]
    search_fields = ["=source_ip", "=key"]
    list_select_related = ["lender"]
    date_hierarchy = "hour"
    fields = ["hour", "lender", "key", "reason", "source_ip", "count", "first_seen_at", "last_seen_at",
              "samples_pretty"]
    readonly_fields = fields

    @admin.display(description="Samples (the first requests of this row: headers without credentials, body masked)")
    def samples_pretty(self, obj: PostbackAuthFailure) -> str:
        return format_html('<pre class="admin-pre-wrap">{}</pre>', json.dumps(obj.samples, indent=2, ensure_ascii=False))

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            context["failure_counts"] = (
                context["cl"].queryset.order_by()
                .values("lender__code", "lender__name", "reason")
                .annotate(count=Sum("count"))
                .order_by("-count", "lender__code", "reason")
            )
        return response


class LeadPostbacksInline(ReadOnlyInline):
    """A lead's postbacks on its admin page, under its timeline. The leads app sits below this one
    and cannot import it, so the inline is added here to the lead's registered admin."""

    model = PostbackEvent
    fields = ["received_at", "status", "effect", "is_repeat", "event_id", "occurred_at", "amount", "currency",
              "reason", "followed_up_at", "follow_up_failed_at", "follow_up_error"]
    readonly_fields = fields


_lead_admin = admin.site.get_model_admin(Lead)
_lead_admin.inlines = [*_lead_admin.inlines, LeadPostbacksInline]
