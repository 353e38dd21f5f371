import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

PERIODS = {
    "1d": dt.timedelta(days=1),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
# More buckets than this and the chart is a smear: group by day instead.
MAX_BUCKETS = 24 * 7


class UsageForm(forms.Form):
    """The API usage page's choices (GET); each has a default."""

    period = forms.ChoiceField(
        choices=[
            ("1d", _("last 24 hours")),
            ("7d", _("last 7 days")),
            ("30d", _("last 30 days")),
        ],
        required=False,
        label=_("Period"),
    )
    grouping = forms.ChoiceField(
        choices=[("hour", _("per hour")), ("day", _("per day"))],
        required=False,
        label=_("Grouping"),
    )
    by = forms.ChoiceField(
        choices=[
            ("user", _("user")),
            ("model", _("model")),
            ("endpoint", _("endpoint")),
        ],
        required=False,
        label=_("By"),
    )

    DEFAULTS = {"period": "1d", "grouping": "hour", "by": "user"}

    def clean(self):
        data = super().clean()
        for name, default in self.DEFAULTS.items():
            if not data.get(name) and name not in self.errors:
                data[name] = default
        period = PERIODS.get(data.get("period"))
        if (
            period
            and data.get("grouping") == "hour"
            and period > dt.timedelta(hours=MAX_BUCKETS)
        ):
            self.add_error(
                "grouping", _("per hour covers at most 7 days: choose per day")
            )
        return data

    @property
    def span(self) -> dt.timedelta:
        return PERIODS[self.cleaned_data["period"]]

    @property
    def by_label(self) -> str:
        """The chosen "by" in the reader's language (a column heading)."""
        return str(dict(self.fields["by"].choices)[self.cleaned_data["by"]])
