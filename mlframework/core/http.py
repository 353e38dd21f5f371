"""Answers built from user input that must stay safe: the page to go back to
(``next``) and a download's file name."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from django.shortcuts import redirect, resolve_url
from django.utils.http import (
    content_disposition_header,
    url_has_allowed_host_and_scheme,
)

_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")
_NOT_SLUG = re.compile(r"[^A-Za-z0-9._]+")  # "-" too: runs become one "-"


def next_url(request, default: str, *args, **kwargs) -> str:
    """The ``next`` the request names when it stays on this site (as Django's
    LoginView checks it), else the default view's URL."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return resolve_url(default, *args, **kwargs)


def redirect_back(request, default: str, *args, **kwargs):
    return redirect(next_url(request, default, *args, **kwargs))


def attachment(filename: str) -> str:
    """A Content-Disposition for a download named after user input: an ASCII
    slug for every client, and the full name (RFC 5987) where it differs."""
    clean = _UNSAFE_IN_NAME.sub("-", filename).strip() or "download"
    ascii_name = unicodedata.normalize("NFKD", clean).encode("ascii", "ignore")
    fallback = _NOT_SLUG.sub("-", ascii_name.decode()).strip("-.") or "download"
    header = content_disposition_header(as_attachment=True, filename=fallback)
    if clean != fallback:
        header += f"; filename*=UTF-8''{quote(clean, safe='')}"
    return header
