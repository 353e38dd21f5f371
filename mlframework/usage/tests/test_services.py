"""The API usage figures: counts, errors and p50/p95 per key and bucket,
checked against numpy on known rows; and their retention."""

import dataclasses
import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlframework.core import retention
from mlframework.usage import services
from mlframework.usage.models import ApiRequest

pytestmark = pytest.mark.django_db(databases=["default", "events"])

T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
ANA = [12.0, 15.5, 3.25, 40.0, 7.0, 99.0, 21.0]
BOB = [5.0, 6.0, 250.0]


def _request(minutes, user, ms, status=200, model="penguins", endpoint="e:p"):
    return ApiRequest(
        at=T0 + dt.timedelta(minutes=minutes),
        user_id=None,
        username=user,
        endpoint=endpoint,
        model_name=model,
        method="POST",
        status=status,
        duration_ms=ms,
    )


@pytest.fixture
def rows():
    made = [_request(i * 5, "ana", ms) for i, ms in enumerate(ANA)]  # 10:00-10:30
    made += [
        _request(65, "bob", BOB[0], status=404, model=""),
        _request(70, "bob", BOB[1], status=500, model="iris"),
        _request(75, "bob", BOB[2], model="iris", endpoint="e:q"),
        _request(80, "", 1.0, status=401, model=""),  # 11:20, no user
    ]
    ApiRequest.objects.bulk_create(made)


def _percentiles(values):
    p50, p95 = np.percentile(values, [50, 95])
    return pytest.approx(p50, abs=1e-3), pytest.approx(p95, abs=1e-3)


def test_totals_per_user_match_numpy(rows):
    usage = services.usage(T0, T0 + dt.timedelta(hours=2), grouping="hour", by="user")
    ana, bob = usage.totals["ana"], usage.totals["bob"]
    assert (ana.requests, ana.errors, ana.server_errors) == (7, 0, 0)
    assert (ana.p50_ms, ana.p95_ms) == _percentiles(ANA)
    assert (bob.requests, bob.errors, bob.server_errors) == (3, 2, 1)
    assert (bob.p50_ms, bob.p95_ms) == _percentiles(BOB)
    assert usage.totals[services.ANONYMOUS].errors == 1
    assert list(usage.totals) == ["ana", "bob", services.ANONYMOUS]  # busiest first


def test_hourly_cells_split_the_requests_by_hour(rows):
    usage = services.usage(T0, T0 + dt.timedelta(hours=2), grouping="hour", by="user")
    assert usage.starts == [T0, T0 + dt.timedelta(hours=1)]
    cells = {(c.start, c.key): c.figures for c in usage.cells}
    assert set(cells) == {
        (T0, "ana"),
        (T0 + dt.timedelta(hours=1), "bob"),
        (T0 + dt.timedelta(hours=1), services.ANONYMOUS),
    }
    assert cells[(T0, "ana")].requests == 7
    late = cells[(T0 + dt.timedelta(hours=1), "bob")]
    assert (late.p50_ms, late.p95_ms) == _percentiles(BOB)


def test_per_model_and_per_endpoint(rows):
    by_model = services.usage(T0, T0 + dt.timedelta(hours=2), by="model")
    assert by_model.totals["penguins"].requests == 7
    assert by_model.totals["iris"].requests == 2
    assert by_model.totals["iris"].p95_ms == _percentiles([6.0, 250.0])[1]
    assert by_model.totals[services.NO_MODEL].requests == 2
    by_endpoint = services.usage(T0, T0 + dt.timedelta(hours=2), by="endpoint")
    assert {k: f.requests for k, f in by_endpoint.totals.items()} == {
        "e:p": 10,
        "e:q": 1,
    }


def test_daily_cells_in_the_platforms_time_zone(rows, settings):
    settings.TIME_ZONE = "America/New_York"  # 10:00 UTC is 05:00 there
    usage = services.usage(
        T0 - dt.timedelta(days=1), T0 + dt.timedelta(hours=2), grouping="day"
    )
    midnight = dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)  # local 00:00
    assert usage.starts == [midnight - dt.timedelta(days=1), midnight]
    assert {c.start for c in usage.cells} == {midnight}
    assert sum(c.figures.requests for c in usage.cells) == 11


def test_daily_buckets_follow_a_day_of_25_hours(settings):
    settings.TIME_ZONE = "Europe/Berlin"  # clocks went back on 2026-10-25
    since = dt.datetime(2026, 10, 24, 12, tzinfo=dt.UTC)
    usage = services.usage(since, since + dt.timedelta(days=3), grouping="day")
    assert [s.isoformat() for s in usage.starts] == [
        "2026-10-23T22:00:00+00:00",
        "2026-10-24T22:00:00+00:00",  # 25 hours long
        "2026-10-25T23:00:00+00:00",
        "2026-10-26T23:00:00+00:00",
    ]


def test_the_period_bounds_are_half_open(rows):
    usage = services.usage(
        T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=30), by="user"
    )
    assert usage.totals["ana"].requests == 5  # 10:05 to 10:25


def test_an_empty_period_has_no_figures():
    usage = services.usage(T0, T0 + dt.timedelta(hours=3))
    assert usage.cells == [] and usage.totals == {}
    assert len(usage.starts) == 3
    assert services.figures([], []).p95_ms is None


def test_the_chart_puts_each_key_on_every_bucket(rows):
    usage = services.usage(T0, T0 + dt.timedelta(hours=3), grouping="hour")
    chart = usage.chart(top=2)
    assert chart["labels"] == [
        "2026-11-30 10:00",
        "2026-11-30 11:00",
        "2026-11-30 12:00",
    ]
    assert [s["key"] for s in chart["series"]] == ["ana", "bob"]
    assert chart["series"][0]["requests"] == [7, 0, 0]
    assert chart["series"][1]["p95_ms"][0] is None
    assert chart["series"][1]["p95_ms"][1] == _percentiles(BOB)[1]


def test_the_page_reads_its_rows_in_chunks(rows, monkeypatch):
    monkeypatch.setattr(services, "READ_CHUNK", 3)
    usage = services.usage(T0, T0 + dt.timedelta(hours=2))
    assert sum(f.requests for f in usage.totals.values()) == 11


@pytest.mark.parametrize(("grouping", "by"), [("week", "user"), ("hour", "ip")])
def test_it_refuses_an_unknown_grouping_or_key(grouping, by):
    with pytest.raises(ValueError, match="must be one of"):
        services.usage(T0, T0, grouping=grouping, by=by)


def test_old_rows_are_pruned_in_batches(rows):
    cutoff = T0 + dt.timedelta(minutes=31)
    with CaptureQueriesContext(connection) as queries:
        assert services.prune_requests(cutoff, batch=3) == 7
    deletes = [q for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    assert ApiRequest.objects.count() == 4


def test_the_retention_pass_prunes_them_at_their_age(rows, settings):
    settings.CONFIG = dataclasses.replace(
        settings.CONFIG,
        retention=dataclasses.replace(
            settings.CONFIG.retention,
            events_days=0,
            runs_days=0,
            jobs_days=0,
            datasets_days=0,
            api_requests_days=1,
        ),
    )
    result = retention.prune(T0 + dt.timedelta(days=1, minutes=31))
    assert result.counts == {"API requests": 7}
    assert ApiRequest.objects.count() == 4
