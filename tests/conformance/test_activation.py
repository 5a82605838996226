"""Turning a lender's production row active needs a valid conformance certificate of its staging
row, in the service staff use and in admin; staff may override with a reason, recorded."""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.utils import timezone

from apps.conformance.models import ActivationOverride, Certificate, ConformanceRun
from apps.conformance.services import ActivationRefused, conformance_run_start, lender_production_activate
from apps.lenders.models import Lender
from tests.factories import LenderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair():
    staging = LenderFactory(environment="staging")
    production = LenderFactory(environment="production", is_active=False, staging_counterpart=staging)
    return staging, production


def certify(lender, *, days=30, revoked=False):
    run = ConformanceRun.objects.create(lender=lender, environment=lender.environment, status="passed")
    return Certificate.objects.create(run=run, lender=lender, environment=lender.environment,
                                      expires_at=timezone.now() + timedelta(days=days),
                                      revoked_at=timezone.now() if revoked else None)


def test_activation_without_a_certificate_is_refused(pair, admin_user):
    _, production = pair
    with pytest.raises(ActivationRefused, match="no valid conformance certificate"):
        lender_production_activate(lender=production, user=admin_user)
    production.refresh_from_db()
    assert not production.is_active


@pytest.mark.parametrize("certificate", [{"days": -1}, {"revoked": True}], ids=["expired", "revoked"])
def test_an_expired_or_revoked_certificate_does_not_count(pair, admin_user, certificate):
    staging, production = pair
    certify(staging, **certificate)
    with pytest.raises(ActivationRefused):
        lender_production_activate(lender=production, user=admin_user)


def test_a_valid_certificate_of_the_staging_row_allows_activation(pair, admin_user):
    staging, production = pair
    certify(staging)
    lender_production_activate(lender=production, user=admin_user)
    production.refresh_from_db()
    assert production.is_active and not ActivationOverride.objects.exists()


def test_a_production_row_without_a_staging_counterpart_is_refused(admin_user):
    production = LenderFactory(environment="production", is_active=False)
    with pytest.raises(ActivationRefused, match="no staging counterpart"):
        lender_production_activate(lender=production, user=admin_user)


def test_staff_override_with_a_reason_is_recorded_and_audited(pair, admin_user):
    _, production = pair
    lender_production_activate(lender=production, user=admin_user, override_reason="Migrated lender, tested by hand")
    production.refresh_from_db()
    override = ActivationOverride.objects.get(lender=production)
    assert production.is_active and override.user == admin_user
    assert override.reason == "Migrated lender, tested by hand" and "certificate" in override.refusal
    assert LogEntry.objects.get_for_object(override).filter(action=LogEntry.Action.CREATE).exists()


def _admin_form(lender, user, **changes):
    model_admin = admin.site._registry[Lender]
    request = RequestFactory().post("/")
    request.user = user
    form_class = model_admin.get_form(request, lender, change=True)
    data = {key: value for key, value in model_to_dict(lender).items() if value is not None}
    data.update(changes)
    return model_admin, request, form_class(data=data, instance=lender)


def test_the_admin_refuses_to_activate_without_a_certificate_or_a_reason(pair, admin_user):
    _, production = pair
    _, _, form = _admin_form(production, admin_user, is_active=True)
    assert not form.is_valid()
    assert "conformance certificate" in str(form.errors["is_active"])


def test_the_admin_activates_with_an_override_reason_and_records_it(pair, admin_user):
    _, production = pair
    model_admin, request, form = _admin_form(production, admin_user, is_active=True,
                                             activation_override_reason="Pilot agreed with compliance")
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    production.refresh_from_db()
    assert production.is_active
    assert ActivationOverride.objects.get(lender=production).reason == "Pilot agreed with compliance"


def test_the_admin_activates_a_certified_lender_without_a_reason(pair, admin_user):
    staging, production = pair
    certify(staging)
    _, _, form = _admin_form(production, admin_user, is_active=True)
    assert form.is_valid(), form.errors


def test_a_staging_row_is_activated_freely(admin_user):
    staging = LenderFactory(environment="staging", is_active=False)
    _, _, form = _admin_form(staging, admin_user, is_active=True)
    assert form.is_valid(), form.errors


def test_a_second_start_while_a_run_is_queued_returns_the_same_run(pair):
    staging, production = pair
    first = conformance_run_start(lender=production, enqueue=False)  # a production row's run tests its staging row
    assert first.lender == staging
    assert conformance_run_start(lender=staging, enqueue=False) == first
