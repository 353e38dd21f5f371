"""User-given text that reaches HTTP headers: the switch's ``next`` and the
dispatch name in the CSV download's file name."""

import pytest
from django.urls import reverse

from dispatch import runner
from dispatch.models import RunStatus

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.mark.parametrize(
    "bad", ["http://evil.example/", "//evil.example/", "javascript:alert(1)"]
)
def test_the_switch_never_redirects_off_site(operator_client, make_dispatch, bad):
    dispatch = make_dispatch(enabled=False)
    response = operator_client.post(
        reverse("dispatch:switch", args=[dispatch.pk]), {"enabled": "on", "next": bad}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dispatch:index")
    dispatch.refresh_from_db()
    assert dispatch.enabled


def test_the_switch_goes_back_to_a_page_of_this_site(operator_client, make_dispatch):
    dispatch = make_dispatch(enabled=False)
    page = reverse("dispatch:detail", args=[dispatch.pk])
    response = operator_client.post(
        reverse("dispatch:switch", args=[dispatch.pk]), {"enabled": "on", "next": page}
    )
    assert response.status_code == 302 and response["Location"] == page


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, fallback, full",
    [
        ("night\nly", "night-ly", None),
        ('say "hi"', "say-hi", "say%20%22hi%22"),
        ("a;b", "a-b", "a%3Bb"),
        ("previsão", "previsao", "previs%C3%A3o"),
    ],
)
def test_run_csv_names_the_file_safely(
    viewer_client,
    tiny_classifier,
    make_dispatch,
    source_table,
    tables,
    name,
    fallback,
    full,
):
    dispatch = make_dispatch(
        name=name,
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')} WHERE id <= 3",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    response = viewer_client.get(reverse("dispatch:run_csv", args=[run.pk]))
    assert response.status_code == 200
    expected = f'attachment; filename="{fallback}-run-{run.pk}.csv"'
    if full:
        expected += f"; filename*=UTF-8''{full}-run-{run.pk}.csv"
    assert response["Content-Disposition"] == expected
    assert len(b"".join(response.streaming_content).decode().splitlines()) == 4
