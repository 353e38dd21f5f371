"""next_url keeps redirects on this site; attachment makes any name a safe
Content-Disposition."""

import pytest
from django.test import RequestFactory

from conftest import PASSWORD
from mlframework.core.http import attachment, next_url

OFF_SITE = [
    "http://evil.example/",
    "//evil.example/x",
    "https://evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "\\\\evil.example",
    "http:///evil.example",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.mark.parametrize("bad", OFF_SITE)
def test_next_url_refuses_other_sites_and_schemes(bad):
    request = RequestFactory().post("/x/", {"next": bad})
    assert next_url(request, "dispatch:index") == "/dispatches/"


def test_next_url_keeps_a_page_of_this_site():
    request = RequestFactory().post("/x/", {"next": "/dispatch/7/?tab=runs"})
    assert next_url(request, "dispatch:index") == "/dispatch/7/?tab=runs"
    full = RequestFactory().get("/x/", {"next": "http://testserver/monitor/"})
    assert next_url(full, "dispatch:index") == "http://testserver/monitor/"


def test_next_url_over_https_refuses_a_plain_http_page():
    request = RequestFactory().post(
        "/x/", {"next": "http://testserver/monitor/"}, secure=True
    )
    assert next_url(request, "dispatch:index") == "/dispatches/"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("scores-run-3.csv", 'attachment; filename="scores-run-3.csv"'),
        (
            "a\nb-run-3.csv",
            'attachment; filename="a-b-run-3.csv"',
        ),
        (
            'say "hi"-run-3.csv',
            'attachment; filename="say-hi-run-3.csv"; '
            "filename*=UTF-8''say%20%22hi%22-run-3.csv",
        ),
        (
            "a;b-run-3.csv",
            "attachment; filename=\"a-b-run-3.csv\"; filename*=UTF-8''a%3Bb-run-3.csv",
        ),
        (
            "previsão-run-3.csv",
            'attachment; filename="previsao-run-3.csv"; '
            "filename*=UTF-8''previs%C3%A3o-run-3.csv",
        ),
        (
            "../../etc/passwd",
            "attachment; filename=\"etc-passwd\"; filename*=UTF-8''..-..-etc-passwd",
        ),
        ("\n", "attachment; filename=\"download\"; filename*=UTF-8''-"),
    ],
)
def test_attachment_makes_any_name_a_safe_header(name, expected):
    header = attachment(name)
    assert header == expected
    assert header.isascii() and "\n" not in header and "\r" not in header


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["http://evil.example/", "javascript:alert(1)"])
def test_the_login_page_never_sends_off_site(client, viewer, bad):
    response = client.post(
        f"/accounts/login/?next={bad}",
        {"username": viewer.username, "password": PASSWORD, "next": bad},
    )
    assert response.status_code == 302 and response["Location"] == "/"
