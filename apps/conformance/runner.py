"""A conformance run from start to finish: the engine checks on test journeys, then the
postbacks of the approved journey, each check stored as it completes (the admin shows progress),
and a certificate when every applicable check passed."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.conformance import checks_engine, checks_postbacks, journeys
from apps.conformance.models import Certificate, ConformanceProfile, ConformanceRun
from apps.conformance.report import CHECKS, FAILED, PASSED, Check

logger = logging.getLogger(__name__)


def _save(run: ConformanceRun, checks: list[Check], progress: str) -> None:
    run.checks = [check.as_json() for check in checks]
    run.passed = sum(check.status == PASSED for check in checks)
    run.failed = sum(check.status == FAILED for check in checks)
    run.progress = progress
    run.save(update_fields=["checks", "passed", "failed", "progress"])


def conformance_run_execute(run: ConformanceRun) -> ConformanceRun:
    """Run every check against the run's lender row; idempotent for a redelivered task (a run
    already claimed or finished is left alone)."""
    claimed = ConformanceRun.objects.filter(pk=run.pk, status=ConformanceRun.Status.QUEUED).update(
        status=ConformanceRun.Status.RUNNING, started_at=timezone.now(), progress="starting")
    run.refresh_from_db()
    if not claimed:
        return run
    try:
        checks = _run_checks(run)
    except journeys.KitSetupError as exc:
        return _finish(run, ConformanceRun.Status.ERROR, error=str(exc))
    except Exception as exc:  # the run must end, whatever broke: shown to staff
        logger.exception("conformance run %s broke", run.pk)
        return _finish(run, ConformanceRun.Status.ERROR, error=f"{type(exc).__name__}: {exc}"[:2000])
    complete = all(check.status in (PASSED, "not_applicable") for check in checks)
    for check in checks:
        if check.status not in (PASSED, "not_applicable"):  # the operator's log says why, as the report does
            logger.warning("conformance run %s: %s %s: %s", run.pk, check.name, check.status, check.summary)
    return _finish(run, ConformanceRun.Status.PASSED if complete else ConformanceRun.Status.FAILED, checks=checks)


def _run_checks(run: ConformanceRun) -> list[Check]:
    profile, _ = ConformanceProfile.objects.get_or_create(lender=run.lender)
    engine = checks_engine.EngineRun(
        target=journeys.target_for(run.lender, profile.product), profile=profile,
        latency_target_ms=settings.CONFORMANCE_LATENCY_TARGET_MS,
        decision_seconds=float(run.lender.pending_timeout_seconds) + 5,
    )
    checks: list[Check] = []

    def step(progress: str, make) -> Check:
        _save(run, checks, progress)
        check = make()
        checks.append(check)
        return check

    step("deciding: a consumer meant to be approved", lambda: checks_engine.check_approved(engine))
    idempotency = checks_engine.check_idempotency(engine)
    step("deciding: a consumer meant to be pending", lambda: checks_engine.check_pending(engine))
    step("submitting the approved journey", lambda: checks_engine.check_submission(engine))
    step("repeating the application", lambda: checks_engine.check_idempotent_submission(engine, idempotency))
    step("a rejection and an error", lambda: checks_engine.check_rejection(engine))
    step(f"timing {profile.latency_calls} decision calls", lambda: checks_engine.check_latency(engine))
    step("handing off", lambda: checks_engine.check_handoff(engine))
    checks += _postbacks(run, profile, engine)
    checks.sort(key=lambda check: list(CHECKS).index(check.name))
    return checks


def _postbacks(run: ConformanceRun, profile: ConformanceProfile, engine: checks_engine.EngineRun) -> list[Check]:
    lead = engine.approved
    if lead is None or not lead.handoff_url:
        return [Check(name, FAILED, "No handed-off test journey to report on (see the hand-off).")
                for name in CHECKS if name.startswith("postback_")]
    started = timezone.now()
    window, asked = checks_postbacks.postbacks_ask(lender=run.lender, profile=profile, click_ids=[lead.tracking_id],
                                                   started_at=started)
    run.progress = f"waiting up to {profile.postback_window_seconds} s for the lender's postbacks"
    run.checks = [*run.checks, {"name": "postback_window", "title": "Postbacks asked for", "status": "waiting",
                                "summary": run.progress, "evidence": [asked]}]
    run.save(update_fields=["progress", "checks"])
    checks_postbacks.postbacks_wait(lender=run.lender, window=window, seconds=profile.postback_window_seconds)
    return checks_postbacks.postback_checks(lender=run.lender, window=window, asked=asked)


@transaction.atomic
def _finish(run: ConformanceRun, status: str, *, checks: list[Check] | None = None, error: str = "") -> ConformanceRun:
    if checks is not None:
        _save(run, checks, "finished")
    run.status, run.error, run.finished_at = status, error, timezone.now()
    run.progress = "finished"
    run.save(update_fields=["status", "error", "finished_at", "progress"])
    if status == ConformanceRun.Status.PASSED:
        Certificate.objects.create(
            run=run, lender=run.lender, environment=run.environment, issued_at=run.finished_at,
            expires_at=run.finished_at + timedelta(days=settings.CONFORMANCE_CERTIFICATE_DAYS),
        )
    return run
