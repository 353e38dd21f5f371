"""Login throttling with django-axes: events, the lockout answer, API tokens.

Axes counts failed logins (the login page and the admin) per user and
address. DRF's token authentication does not go through Django's
``authenticate()``, so ``LockoutTokenAuthentication`` asks axes before a
token and reports each wrong one with Django's ``user_login_failed`` signal,
as ``authenticate()`` does, under one pseudo user name per address. It asks
axes only when a token failure was recorded within the cool-off (a marker
file every process touches): with none, no address can be locked out of
tokens, and the valid token's request is spared the query.
"""

from __future__ import annotations

import logging
import time
from functools import cache
from pathlib import Path

from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.db import router
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext
from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.authtoken.models import Token

from mlframework.events.log import log_event
from mlframework.events.models import Level

logger = logging.getLogger("mlframework.auth")

SOURCE = "auth"
# Not a valid Django user name (no "<" allowed), so it never meets a real one.
TOKEN_USERNAME = "<api token>"  # noqa: S105 (a user name)


def minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_message() -> str:
    count = minutes()
    return ngettext(
        "Too many failed logins from this address: locked out for %(count)s minute. "
        "Try again later, or ask an administrator to unlock you.",
        "Too many failed logins from this address: locked out for %(count)s minutes. "
        "Try again later, or ask an administrator to unlock you.",
        count,
    ) % {"count": count}


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """What a locked-out client gets (AXES_LOCKOUT_CALLABLE): 429, never a 500."""
    seconds = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": lockout_message(), "fields": {}},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    else:
        response = render(
            request,
            "registration/locked_out.html",
            {"message": lockout_message(), "minutes": minutes()},
            status=status.HTTP_429_TOO_MANY_REQUESTS,
        )
    response["Retry-After"] = seconds
    return response


def client_address(request: HttpRequest) -> str | None:
    """The client's address (AXES_CLIENT_IP_CALLABLE).

    Behind the TLS proxy (web.https, which trusts the proxy's headers) every
    request comes from the proxy, so the address is the last X-Forwarded-For
    entry: the one the proxy added, which a client cannot forge (it can only
    prepend)."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR")


class LockedOut(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(lockout_message())
        self.wait = settings.AXES_COOLOFF_TIME.total_seconds()  # Retry-After


def failure_marker() -> Path:
    return settings.CONFIG.path(settings.CONFIG.paths.locks) / "token-failures"


# When this process last saw a token failure (monotonic), besides the marker.
_last_failure: float | None = None


def token_failed_lately() -> bool:
    """Whether any process recorded a failure for TOKEN_USERNAME within the
    cool-off: only then can an address be locked out of tokens."""
    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    if _last_failure is not None and time.monotonic() - _last_failure < cooloff:
        return True
    try:
        touched = failure_marker().stat().st_mtime
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: ask axes
    return time.time() - touched < cooloff  # a future time counts as recent


def _mark_failure() -> None:
    global _last_failure
    _last_failure = time.monotonic()
    marker = failure_marker()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        # Other processes may then spare a valid token the lockout check.
        logger.exception("the token failure marker %s could not be written", marker)


# Stands for the token in the query compiled once; never a real key.
_ANY_KEY = "<any token>"


@cache
def _token_query(alias: str) -> tuple[str, tuple]:
    """The ORM's SQL for a token's user, compiled once per database:
    building and compiling the query cost ~3x running it (bench/RESULTS.md,
    2026-12-01)."""
    query = (
        get_user_model()
        .objects.using(alias)
        .filter(auth_token__key=_ANY_KEY)
        .order_by()
    )
    sql, params = query.query.get_compiler(alias).as_sql()
    return sql, tuple(params)


class LockoutTokenAuthentication(TokenAuthentication):
    """TokenAuthentication whose wrong tokens count, per address, with axes."""

    def authenticate_credentials(self, key):
        # DRF's own answers and messages, from one query compiled once.
        alias = router.db_for_read(Token)
        sql, params = _token_query(alias)
        found = (
            get_user_model()
            .objects.using(alias)
            .raw(sql, [key if p == _ANY_KEY else p for p in params])
        )
        user = next(iter(found), None)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        # request.auth: the token's key and user (its creation time unread).
        return user, Token(key=key, user=user)

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no token: another authentication's business
        raw = request._request  # the HttpRequest axes and the signal expect
        credentials = {"username": TOKEN_USERNAME}
        if token_failed_lately() and not AxesProxyHandler.is_allowed(raw, credentials):
            # As axes' backend does for a login: refused, reported, not counted.
            raw.axes_locked_out = True
            user_login_failed.send(__name__, credentials=credentials, request=raw)
            raise LockedOut()
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            user_login_failed.send(__name__, credentials=credentials, request=raw)
            if getattr(raw, "axes_locked_out", False):
                raise LockedOut() from None
            raise


def _address(request) -> str:
    return getattr(request, "axes_ip_address", None) or client_address(request) or ""


@receiver(user_login_failed)
def _log_failure(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password; only the user name is kept.
    username = str((credentials or {}).get("username") or "")[:150]
    if username == TOKEN_USERNAME:  # from a token, or typed in the login form
        _mark_failure()
    address = _address(request) if request is not None else ""
    log_event(
        SOURCE,
        "auth.login_failed",
        f"Failed login for {username or '(no user name)'} from {address}",
        level=Level.WARNING,
        data={
            "username": username,
            "address": address,
            "path": getattr(request, "path", ""),
        },
    )


@receiver(user_locked_out)
def _log_lockout(sender, request, username, ip_address, **kwargs) -> None:
    log_event(
        SOURCE,
        "auth.locked_out",
        f"{username or '(no user name)'} locked out from {ip_address} "
        f"for {minutes()} minutes",
        level=Level.ERROR,
        data={
            "username": str(username or "")[:150],
            "address": ip_address or "",
            "path": getattr(request, "path", ""),
            "minutes": minutes(),
        },
    )
