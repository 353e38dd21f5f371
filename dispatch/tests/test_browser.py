"""Disparo in a real Chromium: the live cron preview, the htmx switch, and
Run now with live progress executed by the real task worker."""

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import browser_login
from dispatch import crontab
from dispatch.models import RunStatus

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]


def test_the_form_describes_the_schedule_while_typing(page, live_server, operator):
    browser_login(page, live_server, "otto")
    page.goto(f"{live_server.url}/dispatches/new/")
    page.fill("input[name=cron]", "30 6 * * 1-5")
    page.fill("input[name=timezone]", "America/Sao_Paulo")
    page.locator("input[name=timezone]").dispatch_event("change")
    preview = page.locator("#schedule-preview")
    preview.get_by_text("06:30").first.wait_for(timeout=10_000)
    assert preview.locator("li").count() == 5
    assert "Monday through Friday" in preview.inner_text()
    page.fill("input[name=cron]", "99 * * * *")
    page.locator("input[name=cron]").dispatch_event("change")
    page.get_by_text("not a valid cron expression").wait_for(timeout=10_000)


def test_the_switch_disables_in_place(page, live_server, operator, make_dispatch):
    dispatch = make_dispatch(enabled=True)
    crontab.install(dispatch)
    browser_login(page, live_server, "otto")
    page.goto(f"{live_server.url}/dispatches/")
    switch = page.locator(f"#switch-{dispatch.pk}")
    switch.get_by_label("Reason").fill("warehouse reload")
    switch.get_by_role("button", name="Enabled ✓ — disable").click()
    page.get_by_text("warehouse reload").wait_for(timeout=10_000)
    assert page.url == f"{live_server.url}/dispatches/"
    dispatch.refresh_from_db()
    assert not dispatch.enabled and dispatch.pk not in crontab.managed_entries()


def test_run_now_shows_live_progress_then_the_rows(
    page,
    live_server,
    operator,
    tiny_classifier,
    make_dispatch,
    source_table,
    tables,
    process_env,
):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
    )
    browser_login(page, live_server, "otto")
    page.goto(f"{live_server.url}/dispatches/{dispatch.pk}/")
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/dispatches/runs/*/")
    assert "Queued" in page.locator("#run-progress").inner_text()
    worker = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-startup-delay",
            "--interval",
            "0.2",
        ],
        cwd=ROOT,
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The progress part polls; when the run ends the page reloads itself.
        page.get_by_text("Download all 344 rows as CSV").wait_for(timeout=120_000)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert "Succeeded" in page.locator("#run-progress").inner_text()
    run = dispatch.runs.get()
    assert run.status == RunStatus.SUCCEEDED and run.requested_by == operator
    assert page.locator("table").filter(has_text="prediction").count() >= 1
