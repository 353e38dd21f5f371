from django import forms
from django.conf import settings
from django.utils.translation import gettext as _


class ReasonForm(forms.Form):
    """Why a dispatch (or every dispatch) is paused or resumed. Optional."""

    reason = forms.CharField(
        required=False,
        max_length=500,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "reason (optional)"}),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if any(ord(c) < 32 for c in reason):
            raise forms.ValidationError("must be one line of text")
        return reason


class DriftCheckForm(forms.Form):
    """What an on-demand drift check reads: a file, or a query on a datasource."""

    file = forms.FileField(
        required=False,
        help_text="CSV (comma or semicolon, UTF-8 or Latin-1), Parquet or Excel "
        "(.xlsx), with the model's input columns.",
    )
    datasource = forms.ChoiceField(required=False, choices=())
    sql = forms.CharField(
        required=False,
        label="Query",
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="One SELECT returning the model's input columns; it runs read-only.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = sorted(settings.CONFIG.datasources)
        self.fields["datasource"].choices = [("", "—")] + [(n, n) for n in names]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        upload = cleaned.get("file")
        datasource, sql = cleaned.get("datasource"), (cleaned.get("sql") or "").strip()
        cleaned["sql"] = sql
        if upload and (datasource or sql):
            raise forms.ValidationError(
                _("Give a file or a query, not both."), code="both"
            )
        if not upload and not (datasource or sql):
            raise forms.ValidationError(
                _("Upload a file, or choose a datasource and give a query."),
                code="neither",
            )
        if not upload and not datasource:
            self.add_error("datasource", _("Choose the datasource the query runs on."))
        elif not upload and not sql:
            self.add_error("sql", _("Give the query to check."))
        return cleaned
