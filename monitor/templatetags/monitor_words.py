"""The Monitor's words for values the probes and the disk report keep as
plain codes ("host", "up", "database default"): shown in the user's language,
while /healthz and the alert keys keep the codes."""

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitor.probes import Status

register = template.Library()

KINDS = {
    "host": gettext_lazy("host"),
    "database": gettext_lazy("database"),
    "datasource": gettext_lazy("datasource"),
    "service": gettext_lazy("service"),
}

FEATURE_KINDS = {
    "numeric": gettext_lazy("numeric"),
    "categorical": gettext_lazy("categorical"),
}

FOLDERS = {
    "models": gettext_lazy("models"),
    "datasets": gettext_lazy("datasets"),
    "logs": gettext_lazy("logs"),
}


@register.filter
def check_kind(kind: str) -> str:
    return str(KINDS.get(kind, kind))


@register.filter
def check_status(status: str) -> str:
    return str(Status(status).label) if status in Status.values else status


@register.filter
def disk_part(name: str) -> str:
    if name in FOLDERS:
        return str(FOLDERS[name])
    if name.startswith("database "):
        return _("database %(alias)s") % {"alias": name.removeprefix("database ")}
    return name


@register.filter
def feature_kind(kind: str) -> str:
    return str(FEATURE_KINDS.get(kind, kind))
