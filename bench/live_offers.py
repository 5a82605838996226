"""Benchmark: from a lender's decision being stored to its offers visible in the consumer's browser.

    make bench NAME=live_offers     (runs .venv/bin/python bench/live_offers.py from the repo root)

Everything on loopback, bounded (a couple of minutes), cleaned up at the end, on the set-up of
bench/flow.py (its own PostgreSQL database, migrated; gunicorn gthread 2 x 8 as docker-compose
runs it, DEBUG off, static files collected):

1. Headless Chromium (/usr/bin/chromium through Playwright) walks to the waiting page, one
   consumer at a time: catalog, identity, then the decision page waits (static/js/live.js).
2. Once the page has opened its event stream, this process stores the lender's decision with
   the service the lender engine calls (apps.leads.engine.results.decision_record) and notes the
   wall-clock time of the commit. A MutationObserver in the page notes the wall-clock time at
   which the first offer is in the document; the difference is one sample.
3. Side by side, two modes on two servers started in turn: `stream` (server-sent events, the
   default) and `poll` (FLOW_LIVE_STREAMS_PER_PROCESS=0: every stream refused, so the page polls
   the state URL once a second, as it does when a process has no stream slot free; this is also
   about what the old full-page reload did, without the reload itself). SAMPLES samples each.

Target: stream p95 <= 300 ms. The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_LISTINGS", "1")  # bench/flow.py's shop, with a single listing
# Playwright's sync API runs an event loop in this thread; the ORM calls between its steps are plain
# blocking calls all the same (as under pytest-playwright).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from bench.flow import admin_execute, cleanup, data_create, gunicorn_start, percentile, site_environment  # noqa: E402

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "24"))
TARGET_P95_MS = 300.0
CHROMIUM = os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium")
MODES = {"stream": {}, "poll": {"FLOW_LIVE_STREAMS_PER_PROCESS": "0"}}
IDENTITY = {"Número de documento": "1020304050", "Nombre completo": "Ana María Pérez",
            "Ingresos mensuales (COP)": "3.500.000"}
# Notes, in wall-clock milliseconds, when the first offer enters the page (a swap or a reload).
OFFER_WATCH = """() => {
  const seen = () => { if (!window.offerSeenAt && document.querySelector('.offer')) window.offerSeenAt = Date.now(); };
  new MutationObserver(seen).observe(document.documentElement, {childList: true, subtree: true});
  seen();
}"""


def offers_stored(token: str) -> float:
    """Store an approval with three offers for the journey; the wall-clock time (ms) of the commit."""
    from apps.leads.engine.results import decision_record
    from apps.leads.models import Lead
    from apps.lenders.adapters.base import Decision, DecisionResult, Offer

    lead = Lead.objects.only("id", "lender_id").get(public_token=token)
    decision_record(lead_id=lead.pk, lender_id=lead.lender_id, result=DecisionResult(
        decision=Decision.APPROVED, offers=tuple(
            Offer(lender_offer_id=f"OF-{n}", amount=Decimal(5_000_000 + n * 1_000_000), term_months=24,
                  monthly_payment=Decimal(265_000 + n * 50_000), annual_rate=Decimal("0.2850"))
            for n in range(3))))  # its own transaction: committed on return
    return time.time() * 1000


def sample(browser, base: str, origin_code: str, mode: str) -> float:
    """One consumer to the waiting page, then the decision: milliseconds until the offers show."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="es-CO")
    try:
        page = context.new_page()
        page.goto(f"{base}/o/{origin_code}/")
        page.get_by_role("button", name="Solicitar").first.click()
        for label, value in IDENTITY.items():
            page.get_by_label(label).fill(value)
        for name in ("accept_terms", "accept_privacy", "accept_data_processing"):
            page.locator(f"#id_{name}").check()
        listened = "/events" if mode == "stream" else "/state"
        with page.expect_request(lambda request: listened in request.url, timeout=15_000):
            page.get_by_role("button", name="Ver mi respuesta").click()
        page.wait_for_selector("#journey-poll", state="attached")
        page.evaluate(OFFER_WATCH)
        time.sleep(0.15)  # the stream's first look has happened: the decision is news to it
        token = page.url.split("/")[-2]
        stored_at = offers_stored(token)
        page.wait_for_function("() => window.offerSeenAt", timeout=15_000)
        return page.evaluate("window.offerSeenAt") - stored_at
    finally:
        context.close()


def mode_run(env: dict[str, str], origin_code: str, mode: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    process = None
    try:
        process, port = gunicorn_start({**env, **MODES[mode]}, ROOT / "var" / f"bench-live-offers-{mode}.log")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            base = f"http://127.0.0.1:{port}"
            sample(browser, base, origin_code, mode)  # warm-up: imports, connections, template caches
            samples = [sample(browser, base, origin_code, mode) for _ in range(SAMPLES)]
            browser.close()
        return samples
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=15)


def main() -> int:
    db_name = f"bench_live_{secrets.token_hex(4)}"
    prefix = f"bench-live-{secrets.token_hex(4)}:"
    admin_execute(f'CREATE DATABASE "{db_name}"')
    results: dict[str, list[float]] = {}
    try:
        env = site_environment(db_name, prefix)
        origin = data_create(env)
        (ROOT / "var").mkdir(exist_ok=True)
        load = os.getloadavg()
        print(f"Setup: database {db_name}, gunicorn gthread 2x8, headless Chromium at 360x740; {SAMPLES} samples per "
              f"mode, one consumer at a time; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for mode in MODES:
            results[mode] = mode_run(env, origin.code, mode)
    finally:
        cleanup(None, db_name, prefix)

    rows = [{"mode": mode, "samples": len(values), "p50_ms": round(percentile(values, 0.5), 1),
             "p95_ms": round(percentile(values, 0.95), 1), "max_ms": round(max(values), 1),
             "mean_ms": round(statistics.fmean(values), 1)} for mode, values in results.items()]
    print(f"\n{'mode':<8} {'samples':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for row in rows:
        print(f"{row['mode']:<8} {row['samples']:>7} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8} "
              f"{row['mean_ms']:>8}")
    stream, poll = rows[0], rows[1]
    ratio = round(poll["p50_ms"] / stream["p50_ms"], 2) if stream["p50_ms"] > 0 else None
    print(f"\nStream p95 {stream['p95_ms']} ms (target <= {TARGET_P95_MS:g} ms: "
          f"{'ok' if stream['p95_ms'] <= TARGET_P95_MS else 'MISSED'}); polling's p50 is {ratio}x the stream's.")
    print(json.dumps({"bench": "live_offers", "samples": SAMPLES, "target_p95_ms": TARGET_P95_MS,
                      "stream_p50_ms": stream["p50_ms"], "stream_p95_ms": stream["p95_ms"],
                      "poll_p50_ms": poll["p50_ms"], "poll_p95_ms": poll["p95_ms"], "poll_to_stream_p50_ratio": ratio,
                      "meets_target": stream["p95_ms"] <= TARGET_P95_MS, "load_average_1m": round(load[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
