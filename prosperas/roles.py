"""Staff roles: a group each, with explicit permissions (made and kept by the back office's
migrations, apps/backoffice/migrations; the demo gives each role a user, apps/sandbox seed_demo).

Names only, no app imported: every app's permissions are named here, so this sits at the
bottom of the layering. A staff user is given one or more roles in admin (Users → Groups). A
superuser has every permission; nobody else should be one in production. To change a role,
change ROLES and add a migration to apps/backoffice that runs roles_sync (as 0001_roles does).
"""

from __future__ import annotations

VIEW, ADD, CHANGE = "view", "add", "change"


def _perms(label: str, *actions: str) -> list[str]:
    """'app.model' and actions → ['app.view_model', ...]."""
    app, model = label.split(".")
    return [f"{app}.{action}_{model}" for action in actions]


JOURNEY = ["leads.lead", "leads.leadevent", "leads.decision", "leads.offer", "leads.decisionrequest",
           "leads.submission", "leads.consent", "leads.leadnotification", "lenders.lendercall",
           "postbacks.postbackevent"]
CATALOG = ["products.productkind", "products.product", "listings.listing", "campaigns.campaign",
           "campaigns.campaignorigin"]

# The alerts a role owns (apps/backoffice/alerts.py) are listed, acknowledged and resolved by it.
ALERTS_HANDLED = _perms("backoffice.alert", VIEW, CHANGE)

ROLES: dict[str, list[str]] = {
    # Helps consumers and lenders with journeys: reads them (personal data masked) and acts on them.
    "support": [perm for label in JOURNEY for perm in _perms(label, VIEW)]
    + [f"leads.{action}_lead" for action in ("retry", "poll", "cancel", "notify", "review")]
    + _perms("leads.revocationnotice", VIEW)
    + _perms("origins.origin", VIEW) + _perms("lenders.lender", VIEW) + _perms("products.product", VIEW)
    + _perms("listings.listing", VIEW) + _perms("backoffice.bulkretry", VIEW) + ALERTS_HANDLED,
    # Runs the storefront: products, listings, campaigns (budgets, caps, conditions).
    "marketplace": [perm for label in CATALOG for perm in _perms(label, VIEW, ADD, CHANGE)]
    + _perms("origins.origin", VIEW) + _perms("lenders.lender", VIEW) + _perms("campaigns.ledgerentry", VIEW)
    + ALERTS_HANDLED,
    # Connects lenders: their API settings, credentials, adapters, the sandbox; reads their calls.
    "integrations": _perms("lenders.lender", VIEW, ADD, CHANGE) + _perms("lenders.mappedapi", VIEW, ADD, CHANGE)
    + _perms("sandbox.sandboxlendersettings", VIEW, ADD, CHANGE) + _perms("lenders.lendercall", VIEW)
    + _perms("lenders.postbackauthfailure", VIEW) + _perms("postbacks.postbackevent", VIEW)
    + _perms("products.product", VIEW) + _perms("origins.origin", VIEW, ADD, CHANGE) + ALERTS_HANDLED
    # ...and certifies them: conformance runs, their profiles and certificates (revoking one).
    + _perms("conformance.conformancerun", VIEW, ADD) + _perms("conformance.conformanceprofile", VIEW, ADD, CHANGE)
    + _perms("conformance.certificate", VIEW, CHANGE) + _perms("conformance.activationoverride", VIEW),
    # Answers for personal data and for who did what: the audit log, consents, accounts.
    "compliance": _perms("auditlog.logentry", VIEW) + _perms("leads.lead", VIEW) + _perms("leads.consent", VIEW)
    + _perms("leads.outboxmessage", VIEW)
    # Consent texts: drafts written and published; consumers' revocations passed on to lenders.
    + _perms("legal.consenttext", VIEW, ADD, CHANGE) + _perms("leads.revocationnotice", VIEW, CHANGE)
    + _perms("leads.leadevent", VIEW) + _perms("auth.user", VIEW) + _perms("auth.group", VIEW)
    # Sees a consumer's personal data unmasked, one lead at a time, with a reason (apps/leads/reveals.py).
    + ["leads.reveal_personal_data"] + _perms("leads.personaldatareveal", VIEW) + _perms("backoffice.alert", VIEW)
    + _perms("conformance.activationoverride", VIEW)
    # Serves consumers' data requests: export and erasure by document number (apps/lifecycle).
    + _perms("lifecycle.datarequest", VIEW, ADD),
    # Reads the reports and the numbers behind them; changes nothing.
    "analyst": _perms("leads.lead", VIEW) + _perms("campaigns.campaign", VIEW) + _perms("campaigns.ledgerentry", VIEW)
    + _perms("lenders.lender", VIEW) + _perms("lenders.lendercall", VIEW) + _perms("postbacks.postbackevent", VIEW)
    + _perms("products.product", VIEW) + _perms("listings.listing", VIEW) + _perms("origins.origin", VIEW)
    + _perms("backoffice.alert", VIEW) + _perms("reports.dashboard", VIEW),
}


def roles_sync(apps) -> None:
    """Make each role's group hold exactly its permissions (`apps`: a migration's app registry,
    or django.apps.apps). Permissions are created first: on a new database the migration runs
    before Django's post_migrate signal would make them. Also run after every migrate and flush
    (apps/backoffice/apps.py), so the roles come back after a flush emptied the tables."""
    from django.contrib.auth.management import create_permissions

    for config in apps.get_app_configs():
        # A migration's app configs have no models module, and create_permissions skips those.
        kept = getattr(config, "models_module", None)
        config.models_module = kept or True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = kept
    from django.apps import apps as installed_apps

    # An early migration's registry lacks the models and permissions added since (a later
    # migration of apps/backoffice syncs the roles again); the installed apps must have them all.
    strict = apps is installed_apps
    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    for name, wanted in ROLES.items():
        found = []
        for perm in wanted:
            app_label, codename = perm.split(".")
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is None and strict:
                raise Permission.DoesNotExist(f"{perm} (role {name}) does not exist.")
            if permission is not None:
                found.append(permission)
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(found)

