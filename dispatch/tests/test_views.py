"""Disparo pages: happy paths, login, permissions, methods, bad input, no side
effects when refused, constant query counts."""

import re

import pytest
from django.urls import reverse

from dispatch import crontab, runner
from dispatch.models import Dispatch, DispatchRun, RunStatus
from dispatch.tests.conftest import sink_count
from mlframework.events.models import Event
from mlframework.lib import odbc
from monitor.drift.report import DriftReport
from monitor.tests.drift_runs import shifted, stored_run

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def form_data(tiny_classifier, source_table, tables):
    return {
        "name": "nightly-scores",
        "description": "",
        "model": tiny_classifier.model.pk,
        "version_ref": "production",
        "source_datasource": "demo",
        "source_query": f"SELECT * FROM {source_table('demo')}",
        "sink_datasource": "demo",
        "sink_table": tables("demo", "sink"),
        "sink_mode": "replace_run_key",
        "create_table": "on",
        "run_key_format": "%Y-%m-%d",
        "key_columns": "id, island",
        "page_by": "id",
        "include_probabilities": "on",
        "cron": "*/5 * * * *",
        "timezone": "UTC",
        "enabled": "on",
        "retries": "1",
        "retry_backoff_seconds": "30",
        "chunk_size": "10000",
        "grace_minutes": "10",
    }


@pytest.fixture
def scored_run(tiny_classifier, make_dispatch, source_table, tables):
    dispatch = make_dispatch(
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


# --- list ------------------------------------------------------------------


def test_the_list_shows_last_status_and_next_run(viewer_client, scored_run):
    response = viewer_client.get(reverse("dispatch:index"))
    assert response.status_code == 200
    body = response.content.decode()
    assert scored_run.dispatch.name in body and "succeeded" in body
    assert "New dispatch" not in body  # viewers cannot create


def test_the_list_needs_login(client):
    response = client.get(reverse("dispatch:index"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_list_needs_the_view_permission(client, nobody):
    client.force_login(nobody)
    assert client.get(reverse("dispatch:index")).status_code == 403


def test_the_list_refuses_post(operator_client):
    assert operator_client.post(reverse("dispatch:index")).status_code == 405


def test_list_query_count_does_not_grow_with_dispatches(
    viewer_client, make_dispatch, django_assert_max_num_queries
):
    for _ in range(3):
        d = make_dispatch()
        d.runs.create(status=RunStatus.SUCCEEDED)
    viewer_client.get(reverse("dispatch:index"))  # warm up session queries
    with django_assert_max_num_queries(8) as few:
        viewer_client.get(reverse("dispatch:index"))
    for _ in range(30):
        d = make_dispatch()
        d.runs.create(status=RunStatus.FAILED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        viewer_client.get(reverse("dispatch:index"))


# --- create / edit / delete -------------------------------------------------


def test_an_operator_creates_a_dispatch_and_its_crontab_line(
    operator_client, form_data
):
    response = operator_client.post(reverse("dispatch:create"), form_data)
    assert response.status_code == 302, response.content.decode()[:3000]
    dispatch = Dispatch.objects.get(name="nightly-scores")
    assert dispatch.key_columns == ["id", "island"] and dispatch.page_by == "id"
    assert response["Location"] == reverse("dispatch:detail", args=[dispatch.pk])
    assert crontab.entry_state(dispatch) == "ok"
    assert Event.objects.using("events").filter(kind="created").exists()


def test_the_form_page_shows_for_operators(operator_client):
    assert operator_client.get(reverse("dispatch:create")).status_code == 200


def test_the_form_page_is_refused_to_viewers(viewer_client):
    assert viewer_client.get(reverse("dispatch:create")).status_code == 403


def test_creating_needs_the_operate_permission(analyst_client, form_data):
    response = analyst_client.post(reverse("dispatch:create"), form_data)
    assert response.status_code == 403
    assert not Dispatch.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cron", "every five minutes", "needs 5 fields"),
        ("cron", "61 * * * *", "not a valid cron expression"),
        ("cron", "0 0 31 2 *", "0 0 31 2 * never fires: February has no 31st"),
        ("cron", "0 0 * * */8", "cron refuses &#x27;0 0 * * */8&#x27;"),
        ("cron", "30-10 * * * *", "the minute range 30-10 runs backwards"),
        ("timezone", "Mars/Olympus", "not a known IANA timezone"),
        ("sink_table", "scores; DROP TABLE x", "is not a valid name"),
        ("key_columns", "id, prediction", "a column the dispatch adds itself"),
        ("key_columns", "id, nope", "not in the query&#x27;s result: nope"),
        ("version_ref", "staging", "has no alias"),
        ("source_query", "SELECT * FROM no_such_table", "The query failed"),
        ("chunk_size", "0", "between 1 and 1,000,000"),
        ("page_by", "nope", "nope is not in the query&#x27;s result"),
        ("page_by", "island", "island must hold integers"),
        ("page_by", "id; --", "is not a valid name"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_no_side_effect(
    operator_client, form_data, field, value, message
):
    form_data[field] = value
    response = operator_client.post(reverse("dispatch:create"), form_data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Dispatch.objects.exists()
    assert crontab.managed_entries() == {}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM {t}", "DELETE is not a read"),
        ("WITH x AS (SELECT 1) DELETE FROM {t} WHERE id > 0", "inside a WITH"),
        ("INSERT INTO {t} SELECT * FROM {t}", "INSERT is not a read"),
        ("SELECT * FROM {t}; DELETE FROM {t}", "holds 2 statements"),
        ("VACUUM INTO '{path}'", "VACUUM is not a read"),
        ("ATTACH DATABASE '{path}' AS other", "ATTACH is not a read"),
    ],
)
def test_a_source_query_that_writes_is_refused_before_it_runs(
    operator_client, form_data, source_table, tmp_path, query, message
):
    table = form_data["source_query"].split()[-1]
    before = odbc.preview("demo", f"SELECT COUNT(*) AS n FROM {table}")[1]
    path = tmp_path / "made.sqlite3"
    form_data["source_query"] = query.format(t=table, path=path)
    response = operator_client.post(reverse("dispatch:create"), form_data)
    assert response.status_code == 400
    assert "The query is refused" in response.content.decode()
    assert message in response.content.decode()
    assert odbc.preview("demo", f"SELECT COUNT(*) AS n FROM {table}")[1] == before
    assert not path.exists()
    assert not Dispatch.objects.exists()


def test_a_query_missing_model_columns_names_them(operator_client, form_data):
    form_data["source_query"] = form_data["source_query"].replace(
        "SELECT *", "SELECT id, island, sex, year"
    )
    response = operator_client.post(reverse("dispatch:create"), form_data)
    assert response.status_code == 400
    body = response.content.decode()
    assert "lacks column(s) bill_length_mm, bill_depth_mm" in body
    assert not Dispatch.objects.exists()


def test_editing_rewrites_the_crontab_line(operator_client, form_data):
    operator_client.post(reverse("dispatch:create"), form_data)
    dispatch = Dispatch.objects.get()
    form_data["cron"] = "15 3 * * *"
    response = operator_client.post(
        reverse("dispatch:edit", args=[dispatch.pk]), form_data
    )
    assert response.status_code == 302
    assert crontab.managed_entries()[dispatch.pk].startswith("15 3 * * * ")
    assert (
        operator_client.get(reverse("dispatch:edit", args=[dispatch.pk])).status_code
        == 200
    )


def test_delete_is_post_only_and_removes_the_line(operator_client, form_data):
    operator_client.post(reverse("dispatch:create"), form_data)
    dispatch = Dispatch.objects.get()
    url = reverse("dispatch:delete", args=[dispatch.pk])
    assert operator_client.get(url).status_code == 405
    assert operator_client.post(url).status_code == 302
    assert not Dispatch.objects.exists() and crontab.managed_entries() == {}


def test_viewers_cannot_delete(viewer_client, make_dispatch):
    dispatch = make_dispatch()
    url = reverse("dispatch:delete", args=[dispatch.pk])
    assert viewer_client.post(url).status_code == 403
    assert Dispatch.objects.filter(pk=dispatch.pk).exists()


# --- switch, pause all, run now ------------------------------------------


def test_the_switch_disables_with_a_reason_over_htmx(operator_client, make_dispatch):
    dispatch = make_dispatch(enabled=True)
    crontab.install(dispatch)
    response = operator_client.post(
        reverse("dispatch:switch", args=[dispatch.pk]),
        {"enabled": "", "reason": "source is being migrated"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "source is being migrated" in response.content.decode()
    dispatch.refresh_from_db()
    assert not dispatch.enabled and dispatch.pk not in crontab.managed_entries()


def test_viewers_cannot_switch(viewer_client, make_dispatch):
    dispatch = make_dispatch(enabled=False)
    url = reverse("dispatch:switch", args=[dispatch.pk])
    assert viewer_client.post(url, {"enabled": "on"}).status_code == 403
    dispatch.refresh_from_db()
    assert not dispatch.enabled


def test_the_switch_enables_and_refuses_get(operator_client, make_dispatch):
    dispatch = make_dispatch(enabled=False)
    url = reverse("dispatch:switch", args=[dispatch.pk])
    assert operator_client.get(url).status_code == 405
    dispatch.refresh_from_db()
    assert not dispatch.enabled
    before = dispatch.updated
    assert operator_client.post(url, {"enabled": "on"}).status_code == 302
    dispatch.refresh_from_db()
    assert dispatch.enabled and crontab.entry_state(dispatch) == "ok"
    assert dispatch.enabled_at > before


def test_the_switch_refuses_a_too_long_reason(operator_client, make_dispatch):
    dispatch = make_dispatch(enabled=True)
    response = operator_client.post(
        reverse("dispatch:switch", args=[dispatch.pk]),
        {"enabled": "", "reason": "x" * 501},
    )
    assert response.status_code == 400 and "too long" in response.content.decode()
    dispatch.refresh_from_db()
    assert dispatch.enabled


def test_pause_all_and_resume_all(admin_client_, make_dispatch):
    dispatch = make_dispatch(enabled=True)
    admin_client_.post(reverse("dispatch:pause_all"), {"reason": "upgrade"})
    dispatch.refresh_from_db()
    assert not dispatch.enabled and dispatch.pause_reason == "upgrade"
    admin_client_.post(reverse("dispatch:resume_all"))
    dispatch.refresh_from_db()
    assert dispatch.enabled
    assert admin_client_.get(reverse("dispatch:pause_all")).status_code == 405


def test_pause_all_is_for_superusers_only(operator_client, make_dispatch):
    dispatch = make_dispatch(enabled=True)
    response = operator_client.post(reverse("dispatch:pause_all"), {"reason": "x"})
    assert response.status_code == 403
    dispatch.refresh_from_db()
    assert dispatch.enabled
    assert operator_client.post(reverse("dispatch:resume_all")).status_code == 403
    assert (
        b"Pause or resume every dispatch"
        not in operator_client.get(reverse("dispatch:index")).content
    )


def test_run_now_queues_and_shows_live_progress(
    operator_client, make_dispatch, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    dispatch = make_dispatch()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(reverse("dispatch:run_now", args=[dispatch.pk]))
    run = DispatchRun.objects.get()
    assert response["Location"] == reverse("dispatch:run", args=[run.pk])
    assert DBTaskResult.objects.filter(task_path="dispatch.tasks.execute_run").exists()
    page = operator_client.get(response["Location"]).content.decode()
    assert "every 2s" in page and "Queued" in page


def test_run_now_needs_operate(viewer_client, make_dispatch):
    dispatch = make_dispatch()
    url = reverse("dispatch:run_now", args=[dispatch.pk])
    assert viewer_client.post(url).status_code == 403
    assert not DispatchRun.objects.exists()


def test_the_queued_task_executes_the_run(make_dispatch, registered_model):
    from dispatch.tasks import execute_run

    dispatch = make_dispatch(model=registered_model)
    run = dispatch.runs.create()
    assert execute_run.call(run.pk) == RunStatus.FAILED  # no model version yet
    run.refresh_from_db()
    assert "has no alias" in run.error


# --- runs ---------------------------------------------------------------


def test_run_history_filters_and_pages(viewer_client, make_dispatch, settings):
    from dispatch import views

    first, second = make_dispatch(), make_dispatch()
    for _ in range(views.RUNS_PER_PAGE + 5):
        first.runs.create(status=RunStatus.SUCCEEDED)
    second.runs.create(status=RunStatus.FAILED, error="boom")
    page = viewer_client.get(reverse("dispatch:runs"))
    assert page.status_code == 200 and "Older runs" in page.content.decode()
    failed = viewer_client.get(reverse("dispatch:runs"), {"status": "failed"})
    assert "boom" in failed.content.decode() and "Older runs" not in (
        failed.content.decode()
    )
    older = page.context["older"]
    rest = viewer_client.get(
        reverse("dispatch:runs"), {"dispatch": first.pk, "before": older}
    )
    # 56 runs: the first page holds 50 (the newest is the other dispatch's).
    assert len(rest.context["runs"]) == 6


def test_run_history_rejects_bad_filters(viewer_client):
    response = viewer_client.get(reverse("dispatch:runs"), {"status": "exploded"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_run_history_query_count_is_constant(
    viewer_client, make_dispatch, django_assert_max_num_queries
):
    dispatch = make_dispatch()
    dispatch.runs.create()
    viewer_client.get(reverse("dispatch:runs"))
    with django_assert_max_num_queries(8) as few:
        viewer_client.get(reverse("dispatch:runs"))
    DispatchRun.objects.bulk_create(
        [DispatchRun(dispatch=make_dispatch()) for _ in range(40)]
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        viewer_client.get(reverse("dispatch:runs"))


def test_run_detail_shows_events_timings_and_written_rows(viewer_client, scored_run):
    response = viewer_client.get(reverse("dispatch:run", args=[scored_run.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "finished" in body and "started" in body  # the event timeline
    assert "predict" in body and "prediction" in body  # timings and rows
    assert "Download all 344 rows as CSV" in body


def test_run_csv_downloads_every_row(viewer_client, scored_run):
    response = viewer_client.get(reverse("dispatch:run_csv", args=[scored_run.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,prediction") and len(lines) == 345
    assert sink_count("demo", scored_run.dispatch.sink_table) == 344


def test_run_csv_of_a_failed_run_is_404(viewer_client, make_dispatch):
    run = make_dispatch().runs.create(status=RunStatus.FAILED)
    response = viewer_client.get(reverse("dispatch:run_csv", args=[run.pk]))
    assert response.status_code == 404


def test_run_progress_partial(viewer_client, make_dispatch):
    run = make_dispatch().runs.create(status=RunStatus.RUNNING, rows_read=1234)
    response = viewer_client.get(reverse("dispatch:run_progress", args=[run.pk]))
    assert response.status_code == 200
    assert "1234 rows read" in response.content.decode()


def test_detail_shows_schedule_state_and_chart(viewer_client, scored_run):
    dispatch = scored_run.dispatch
    response = viewer_client.get(reverse("dispatch:detail", args=[dispatch.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Every 5 minutes (UTC)" in body and "chart-data" in body


def test_schedule_preview(viewer_client):
    url = reverse("dispatch:schedule_preview")
    ok = viewer_client.get(
        url, {"cron": "0 6 * * 1-5", "timezone": "America/Sao_Paulo"}
    )
    body = ok.content.decode()
    assert ok.status_code == 200 and "06:00" in body and body.count("<li>") == 5
    bad = viewer_client.get(url, {"cron": "0 25 * * *"})
    # Shown in place (htmx swaps only successful responses).
    assert bad.status_code == 200
    assert "not a valid cron expression" in bad.content.decode()


def test_the_schedule_preview_names_why_a_schedule_never_fires(viewer_client):
    url = reverse("dispatch:schedule_preview")
    response = viewer_client.get(url, {"cron": "0 0 30 2 *", "timezone": "UTC"})
    # Like any bad expression: shown in place, with the reason.
    assert response.status_code == 200
    body = response.content.decode()
    assert "Cron expression: 0 0 30 2 * never fires: February has no 30th" in body
    assert "<li>" not in body


# --- a stored schedule that never fires ---------------------------------------


@pytest.fixture
def never_fires(make_dispatch):
    """Saved before the form refused such schedules (or written around it)."""
    dispatch = make_dispatch(enabled=True)
    Dispatch.objects.filter(pk=dispatch.pk).update(cron="0 0 31 2 *")
    dispatch.refresh_from_db()
    return dispatch


def test_the_list_and_page_show_a_schedule_that_never_fires(
    viewer_client, never_fires, make_dispatch
):
    make_dispatch(enabled=True, cron="*/5 * * * *")
    listing = viewer_client.get(reverse("dispatch:index"))
    assert listing.status_code == 200
    assert listing.content.decode().count("data-never-fires") == 1
    page = viewer_client.get(reverse("dispatch:detail", args=[never_fires.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "0 0 31 2 * never fires: February has no 31st." in body
    assert "No crontab line is installed" in body
    assert "<small>UTC</small></li>" not in body  # no next runs listed


def test_the_edit_form_of_a_schedule_that_never_fires_opens(
    operator_client, never_fires
):
    url = reverse("dispatch:edit", args=[never_fires.pk])
    assert operator_client.get(url).status_code == 200


def test_enabling_a_schedule_that_never_fires_is_refused_with_the_reason(
    operator_client, never_fires
):
    Dispatch.objects.filter(pk=never_fires.pk).update(enabled=False)
    response = operator_client.post(
        reverse("dispatch:switch", args=[never_fires.pk]),
        {"enabled": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "never fires: February has no 31st" in response.content.decode()
    never_fires.refresh_from_db()
    assert not never_fires.enabled
    assert never_fires.pk not in crontab.managed_entries()


# --- the run's drift --------------------------------------------------------


def _run_page(client, run) -> str:
    response = client.get(reverse("dispatch:run", args=[run.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _feature_rows(html: str) -> list[tuple[str, str]]:
    table = html[html.index('data-testid="drift-features"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr data-feature="([^"]+)" data-drifted="(yes|no)">', table)


def test_the_run_page_shows_the_drift_the_run_measured(viewer_client, scored_run):
    html = _run_page(viewer_client, scored_run)
    version = scored_run.model_version
    section = html[html.index('id="run-drift"') :]
    assert 'data-state="checked"' in html[html.index('<section id="run-drift"') :][:80]
    assert 'Dataset drift: <strong class="status-up">no</strong>' in section
    assert 'Prediction drift: <strong class="status-up">no</strong>' in section
    assert "344 rows measured" in section
    rows = _feature_rows(html)
    names = [name for name, _ in rows]
    ranked = [item["feature"] for item in version.feature_importance]
    assert names[: len(ranked)] == ranked  # by permutation importance
    assert names[-1] == "prediction" and all(d == "no" for _, d in rows)
    drift_url = reverse("monitor:drift", args=[version.pk])
    assert f'href="{drift_url}?run={scored_run.pk}"' in section


def test_the_run_page_shows_each_drifted_feature(
    viewer_client, tiny_classifier, make_dispatch, penguins_frame
):
    dispatch = make_dispatch(model=tiny_classifier.model)
    run = stored_run(dispatch, tiny_classifier, shifted(penguins_frame))
    html = _run_page(viewer_client, run)
    section = html[html.index('id="run-drift"') :]
    assert 'Dataset drift: <strong class="status-down">yes</strong>' in section
    assert "57.1 % of the checked features drifted" in section
    assert 'Prediction drift: <strong class="status-down">yes</strong>' in section
    assert "Important features drifting: island, bill_length_mm" in section
    drifted = dict(_feature_rows(html))
    assert drifted["island"] == drifted["bill_length_mm"] == "yes"
    assert drifted["bill_depth_mm"] == drifted["sex"] == "no"
    island = section[section.index('<tr data-feature="island"') :]
    island = island[: island.index("</tr>")]
    assert "chisquare" in island and "p-value" in island and "0.05" in island


def test_the_run_page_says_why_drift_was_not_checked(
    viewer_client, tiny_classifier, make_dispatch
):
    dispatch = make_dispatch(model=tiny_classifier.model)
    run = stored_run(
        dispatch,
        tiny_classifier,
        report=DriftReport(state="no usable reference: not built yet"),
    )
    html = _run_page(viewer_client, run)
    section = html[html.index('id="run-drift"') :]
    assert "Not checked</strong>: no usable reference: not built yet" in section
    assert 'data-testid="drift-features"' not in section


def test_a_run_without_a_drift_report_says_so(viewer_client, make_dispatch):
    run = make_dispatch().runs.create(status=RunStatus.RUNNING)
    html = _run_page(viewer_client, run)
    assert "No drift report for this run yet: it is written at the end" in html


def test_the_run_page_needs_login_and_a_role(client, nobody, make_dispatch):
    run = make_dispatch().runs.create(status=RunStatus.SUCCEEDED)
    url = reverse("dispatch:run", args=[run.pk])
    assert client.get(url).status_code == 302
    client.force_login(nobody)
    assert client.get(url).status_code == 403


def test_the_run_page_refuses_post_and_unknown_runs(viewer_client, make_dispatch):
    run = make_dispatch().runs.create(status=RunStatus.SUCCEEDED)
    assert viewer_client.post(reverse("dispatch:run", args=[run.pk])).status_code == 405
    assert viewer_client.get(reverse("dispatch:run", args=[999999])).status_code == 404
