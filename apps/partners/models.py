from django.conf import settings
from django.db import models
from django.utils import timezone


class PartnerMembership(models.Model):
    """A lender's person in the portal: the user sees this lender row (one environment) and
    nothing of any other. Every portal query is scoped through these rows."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_memberships")
    lender = models.ForeignKey("lenders.Lender", on_delete=models.CASCADE, related_name="partner_memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lender"], name="partner_membership_once")]

    def __str__(self) -> str:
        return f"{self.user} → {self.lender}"


class PartnerInvitation(models.Model):
    """Staff invite a lender's person by email: the link (its token only as a digest here) lets
    them set a password and enrol a second factor, once, before it expires."""

    email = models.EmailField()
    lenders = models.ManyToManyField("lenders.Lender", related_name="partner_invitations",
                                     help_text="The lender rows (environments) the person will see.")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+", help_text="The account it made, once accepted.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation of {self.email}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()
