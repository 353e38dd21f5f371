"""Forms: a case form generated from a model version's input schema, the
choice of version, and the case query an analyst configures per model."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mlframework.core import numbers
from mlframework.lib import odbc
from registry.contracts import Feature, FeatureSchema
from showroom import cases, schema
from showroom.models import CaseSource


def _number(value: Any) -> str:
    if value is None:
        return "?"
    # In the reader's language (pt-BR 4,5): a help text, never a value sent.
    return numbers.significant(value, 6) if isinstance(value, float) else str(value)


def field_for(feature: Feature) -> forms.Field:
    """The form field for one feature of the schema."""
    kind = feature.kind
    name = feature.name
    # A feature that had gaps in training may be left blank: the model learned
    # what to do with a missing value.
    required = not feature.missing
    common = {"label": name, "required": required}
    if kind == "numeric":
        low, high = feature.min, feature.max
        help_text = _("training range %(low)s to %(high)s") % {
            "low": _number(low),
            "high": _number(high),
        }
        if feature.mean is not None:
            help_text += _(", mean %(mean)s") % {"mean": _number(feature.mean)}
        # Text, not type=number: a browser's number input refuses "47,5" and
        # "1.234,5"; showroom.schema reads them in the request's language.
        return forms.CharField(
            **common,
            help_text=help_text,
            widget=forms.TextInput(
                attrs={
                    "inputmode": "decimal",
                    "placeholder": _("%(low)s to %(high)s")
                    % {"low": _number(low), "high": _number(high)},
                }
            ),
        )
    if kind in ("categorical", "boolean"):
        categories = list(feature.categories)
        if kind == "boolean" and not categories:
            categories = [True, False]
        choices = [("", _("(missing)") if not required else _("choose…"))]
        choices += [(str(c), str(c)) for c in categories]
        return forms.ChoiceField(**common, choices=choices)
    if kind == "datetime" and is_date_only(feature):
        return forms.CharField(
            **common,
            help_text=_("a date, e.g. 2024-05-31"),
            widget=forms.DateInput(attrs={"type": "date"}),
        )
    if kind == "datetime":
        return forms.CharField(
            **common,
            help_text=_("a date and time, e.g. 2024-05-31T14:00"),
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        )
    return forms.CharField(**common, widget=forms.TextInput())


def is_date_only(feature: Feature) -> bool:
    """A date feature trained on days (its range at midnight), not times."""
    bounds = [feature.min, feature.max]
    if any(bound is None for bound in bounds):
        return False
    try:
        return all(
            pd.Timestamp(bound) == pd.Timestamp(bound).normalize() for bound in bounds
        )
    except (TypeError, ValueError):
        return False


class CaseForm(forms.Form):
    """One case, with a field per feature of the version, in training order.

    Validation uses the same rules as the API (showroom.schema), so the
    messages match; ``cleaned_row`` is the converted case.
    """

    def __init__(self, features: FeatureSchema, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.features = features
        for feature in features:
            self.fields[feature.name] = field_for(feature)
            self.fields[feature.name].feature = feature
        self.cleaned_row: dict[str, Any] = {}

    def clean(self):
        cleaned = super().clean()
        for feature in self.features:
            name = feature.name
            if name in self.errors:
                continue
            try:
                self.cleaned_row[name] = schema.convert(feature, cleaned.get(name))
            except schema.ValueProblem as problem:
                self.add_error(name, str(problem))
        return cleaned

    def as_row(self) -> dict[str, Any]:
        """The case as a row for showroom.schema.check_rows (blank -> None)."""
        return {f.name: self.cleaned_row.get(f.name) for f in self.features}


def initial_from(features: FeatureSchema, values: dict) -> dict:
    """Form initial values from a listed case (values shown as the form wants)."""
    initial = {}
    for feature in features:
        value = values.get(feature.name)
        if value is None or schema.is_missing(value):
            continue
        initial[feature.name] = _as_input(feature, value)
    return initial


def _as_input(feature: Feature, value: Any) -> str:
    try:
        converted = schema.convert(feature, value)
    except schema.ValueProblem:
        return str(value)  # shown as it is; the form says what is wrong
    kind = feature.kind
    if kind == "datetime" and is_date_only(feature):
        return converted.strftime("%Y-%m-%d")
    if kind == "datetime":
        return converted.strftime("%Y-%m-%dT%H:%M")
    if kind == "numeric" and converted == int(converted):
        return str(int(converted))
    return str(converted if kind == "numeric" else value)


class VersionForm(forms.Form):
    """Which version to try: an alias name or a version number."""

    ref = forms.CharField(
        required=False, max_length=64, label=gettext_lazy("Version or alias")
    )

    def clean_ref(self) -> str | int:
        ref = (self.cleaned_data.get("ref") or "").strip()
        if not ref:
            return "production"
        if ref.lstrip("v").isdigit():
            return int(ref.lstrip("v"))
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", ref):
            raise forms.ValidationError(
                _("Give a version number (e.g. 3) or an alias name (e.g. production).")
            )
        return ref


class CaseSourceForm(forms.ModelForm):
    """The case query for one model: run once on save, so a broken one is
    refused with the database's own message instead of failing later."""

    datasource = forms.ChoiceField(label=gettext_lazy("Datasource"), choices=())
    # Checked here, not only by the model's validators: the query is test-run
    # in clean(), before the model validates, and the driver needs >= 1 row.
    max_rows = forms.IntegerField(
        label=gettext_lazy("Max rows"), min_value=1, initial=20
    )

    class Meta:
        model = CaseSource
        fields = ["datasource", "query", "max_rows"]
        widgets = {"query": forms.Textarea(attrs={"rows": 5, "spellcheck": "false"})}
        labels = {"query": gettext_lazy("Query")}
        help_texts = {
            "query": gettext_lazy(
                "One SELECT returning the cases, a column per feature; "
                "other columns (an id, a name) are shown but not sent to the model."
            ),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        names = sorted(settings.CONFIG.datasources)
        self.fields["datasource"].choices = [(n, n) for n in names]
        # "Predict all" sends every listed case in one call: no more than a
        # call may hold.
        limit = min(1000, settings.CONFIG.showroom.max_rows)
        self.fields["max_rows"].max_value = limit
        self.fields["max_rows"].validators.append(MaxValueValidator(limit))
        self.fields["max_rows"].widget.attrs["max"] = limit
        self.fields["max_rows"].help_text = _(
            "At most %(limit)s (showroom.max_rows): all of them are predicted at once."
        ) % {"limit": limit}
        self.preview = None

    def clean_query(self) -> str:
        # Whether it only reads is decided by odbc.check_read_only in clean(),
        # which needs the datasource's dialect.
        return self.cleaned_data["query"].strip().rstrip(";").strip()

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            odbc.check_read_only(cleaned["datasource"], cleaned["query"])
        except odbc.ReadOnlyError as exc:
            self.add_error(
                "query", _("The case query is refused: %(error)s") % {"error": exc}
            )
            return cleaned
        try:
            self.preview = cases.run_query(
                cleaned["datasource"], cleaned["query"], cleaned["max_rows"]
            )
        except cases.CaseError as exc:
            self.add_error("query", str(exc))
        return cleaned


class ListedCaseForm(forms.Form):
    """Predict one listed case (index) or all of them (no index)."""

    origin = forms.ChoiceField(
        choices=[
            ("query", gettext_lazy("case query")),
            ("sample", gettext_lazy("sample")),
        ]
    )
    index = forms.IntegerField(required=False, min_value=0)
