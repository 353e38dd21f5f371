import math

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mlframework.lib import odbc
from monitor.drift import methods as drift_methods
from monitor.drift.pages import DEFAULT_RUNS, MAX_RUNS
from monitor.drift.report import DriftSettings, DriftSettingsError
from monitor.models import ModelMonitoring


class ReasonForm(forms.Form):
    """Why a dispatch (or every dispatch) is paused or resumed. Optional."""

    reason = forms.CharField(
        required=False,
        max_length=500,
        strip=True,
        label=gettext_lazy("Reason"),
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("reason (optional)")}
        ),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"]
        if any(ord(c) < 32 for c in reason):
            raise forms.ValidationError(_("must be one line of text"))
        return reason


class DriftPageForm(forms.Form):
    """The Drift page's GET filters: how many runs, which run and feature."""

    runs = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RUNS,
        label=gettext_lazy("Last runs"),
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_RUNS)}),
    )
    run = forms.IntegerField(
        required=False,
        min_value=1,
        label=gettext_lazy("Run"),
        widget=forms.NumberInput(
            attrs={"placeholder": gettext_lazy("the latest checked")}
        ),
    )
    feature = forms.CharField(
        required=False,
        max_length=200,
        label=gettext_lazy("Feature"),
        widget=forms.TextInput(
            attrs={
                "placeholder": gettext_lazy("the most important"),
                "list": "drift-feature-names",
            }
        ),
    )

    def clean_runs(self) -> int:
        return self.cleaned_data["runs"] or DEFAULT_RUNS


def _names(text: str, what: str) -> list[str]:
    names = [name.strip() for name in (text or "").split(",")]
    names = [name for name in names if name]
    if len(set(names)) != len(names):
        raise forms.ValidationError(
            _("names a feature twice")
            if what == "feature"
            else _("names a column twice")
        )
    return names


class MonitoringForm(forms.ModelForm):
    """A model's monitoring settings: drift methods and thresholds (checked by
    DriftSettings), the important-feature rule and the actuals query (checked
    read-only in the datasource's dialect)."""

    METHOD_CHOICES = [("", gettext_lazy("Automatic (as Evidently)"))] + [
        (method, method) for method in drift_methods.METHODS
    ]

    numeric_method = forms.ChoiceField(
        choices=METHOD_CHOICES, required=False, label=gettext_lazy("Numeric method")
    )
    categorical_method = forms.ChoiceField(
        choices=METHOD_CHOICES,
        required=False,
        label=gettext_lazy("Categorical method"),
    )
    prediction_method = forms.ChoiceField(
        choices=METHOD_CHOICES,
        required=False,
        label=gettext_lazy("Prediction method"),
    )
    p_value_threshold = forms.FloatField(
        initial=0.05, min_value=0, max_value=1, label=gettext_lazy("P-value threshold")
    )
    distance_threshold = forms.FloatField(
        initial=0.1, min_value=0, label=gettext_lazy("Distance threshold")
    )
    drift_share = forms.FloatField(
        initial=0.5,
        min_value=0,
        max_value=1,
        label=gettext_lazy("Drift share"),
        help_text=gettext_lazy(
            "Dataset drift when at least this share of the features drift."
        ),
    )
    ignored = forms.CharField(
        required=False,
        label=gettext_lazy("Ignored"),
        help_text=gettext_lazy("Features not checked, comma-separated."),
    )
    overrides = forms.CharField(
        required=False,
        label=gettext_lazy("Overrides"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "One feature per line: feature = method, feature = threshold, "
            "or feature = method threshold (e.g. body_mass_g = psi 0.2)."
        ),
    )
    actuals_datasource = forms.ChoiceField(
        choices=(), required=False, label=gettext_lazy("Actuals datasource")
    )
    actuals_key_columns = forms.CharField(
        required=False,
        label=gettext_lazy("Actuals key columns"),
        help_text=gettext_lazy(
            "Columns joining the actuals to the predictions, "
            "comma-separated; empty: each dispatch's key columns."
        ),
    )

    class Meta:
        model = ModelMonitoring
        fields = [
            "drift_enabled",
            "important_features",
            "important_runs",
            "actuals_datasource",
            "actuals_query",
            "actuals_key_columns",
            "actuals_label_column",
            "actuals_days",
            "metric_tolerance",
        ]
        widgets = {"actuals_query": forms.Textarea(attrs={"rows": 4})}

    field_order = [
        "drift_enabled",
        "numeric_method",
        "categorical_method",
        "prediction_method",
        "p_value_threshold",
        "distance_threshold",
        "drift_share",
        "ignored",
        "overrides",
        "important_features",
        "important_runs",
    ]

    def __init__(self, *args, features: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.features = list(features)
        self.fields["actuals_datasource"].choices = [("", "—")] + [
            (name, name) for name in odbc.datasource_names()
        ]
        if not self.is_bound:
            drift = self.instance.drift_settings or {}
            for key in (
                "numeric_method",
                "categorical_method",
                "prediction_method",
                "p_value_threshold",
                "distance_threshold",
                "drift_share",
            ):
                if key in drift:
                    self.initial[key] = drift[key]
            self.initial["ignored"] = ", ".join(drift.get("ignored") or ())
            self.initial["overrides"] = _overrides_text(drift)
            self.initial["actuals_key_columns"] = ", ".join(
                self.instance.actuals_key_columns or ()
            )

    def clean_important_features(self) -> int:
        return _between(self.cleaned_data["important_features"], 1, 1000)

    def clean_actuals_days(self) -> int:
        return _between(self.cleaned_data["actuals_days"], 1, 3650)

    def clean_important_runs(self) -> int:
        return _between(self.cleaned_data["important_runs"], 1, 100)

    def clean_metric_tolerance(self) -> float:
        value = self.cleaned_data["metric_tolerance"]
        if value is None or not math.isfinite(value) or value < 0:
            raise forms.ValidationError(_("must be a number of at least 0"))
        return value

    def clean_ignored(self) -> list[str]:
        names = _names(self.cleaned_data["ignored"], "feature")
        self._known(names)
        return names

    def clean_actuals_key_columns(self) -> list[str]:
        names = _names(self.cleaned_data["actuals_key_columns"], "column")
        for name in names:
            try:
                odbc.quote_identifier(name)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return names

    def clean_actuals_label_column(self) -> str:
        name = self.cleaned_data["actuals_label_column"].strip()
        try:
            odbc.quote_identifier(name)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return name

    def clean_overrides(self) -> tuple[dict, dict]:
        chosen, limits = {}, {}
        for number, line in enumerate(self.cleaned_data["overrides"].splitlines(), 1):
            if not line.strip():
                continue
            name, equals, rest = line.partition("=")
            name, words = name.strip(), rest.split()
            if not equals or not name or not 1 <= len(words) <= 2:
                raise forms.ValidationError(
                    _(
                        "line %(line)s: write feature = method, feature = threshold "
                        "or feature = method threshold"
                    )
                    % {"line": number}
                )
            self._known([name], line=number)
            if name in chosen or name in limits:
                raise forms.ValidationError(
                    _("line %(line)s: %(name)s is given twice")
                    % {"line": number, "name": name}
                )
            for word in words:
                if word in drift_methods.METHODS:
                    chosen[name] = word
                    continue
                try:
                    value = float(word)
                except ValueError:
                    raise forms.ValidationError(
                        _(
                            "line %(line)s: %(word)r is neither a method "
                            "(%(methods)s) nor a number"
                        )
                        % {
                            "line": number,
                            "word": word,
                            "methods": ", ".join(drift_methods.METHODS),
                        }
                    ) from None
                if not math.isfinite(value) or value < 0:
                    raise forms.ValidationError(
                        _("line %(line)s: the threshold must be at least 0")
                        % {"line": number}
                    )
                limits[name] = value
        return chosen, limits

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        chosen, limits = data["overrides"]
        try:
            self.drift = DriftSettings(
                methods=chosen,
                numeric_method=data["numeric_method"],
                categorical_method=data["categorical_method"],
                prediction_method=data["prediction_method"],
                p_value_threshold=data["p_value_threshold"],
                distance_threshold=data["distance_threshold"],
                thresholds=limits,
                ignored=tuple(data["ignored"]),
                drift_share=data["drift_share"],
            )
        except DriftSettingsError as exc:
            raise forms.ValidationError(str(exc)) from None
        source, query = data["actuals_datasource"], data["actuals_query"].strip()
        if query and not source:
            self.add_error(
                "actuals_datasource", _("choose where the actuals query runs")
            )
        elif source and not query:
            self.add_error("actuals_query", _("give the query returning the actuals"))
        elif query:
            try:
                odbc.check_read_only(source, query)
            except odbc.ReadOnlyError as exc:
                self.add_error(
                    "actuals_query",
                    _("The query is refused: %(error)s") % {"error": exc},
                )
        data["actuals_query"] = query
        return data

    def save(self, commit: bool = True) -> ModelMonitoring:
        monitoring = super().save(commit=False)
        monitoring.drift_settings = self.drift.to_json()
        if commit:
            monitoring.save()
        return monitoring

    def _known(self, names: list[str], line: int | None = None) -> None:
        unknown = [
            name for name in names if self.features and name not in self.features
        ]
        if unknown:
            message = _("%(names)s: not a feature of the model (%(features)s)") % {
                "names": ", ".join(unknown),
                "features": ", ".join(self.features),
            }
            if line:
                message = _("line %(line)s: %(message)s") % {
                    "line": line,
                    "message": message,
                }
            raise forms.ValidationError(message)


def _between(value: int | None, low: int, high: int) -> int:
    if value is None or not low <= value <= high:
        raise forms.ValidationError(
            _("must be between %(low)s and %(high)s") % {"low": low, "high": high}
        )
    return value


def _overrides_text(drift: dict) -> str:
    names = list(
        dict.fromkeys([*(drift.get("methods") or {}), *(drift.get("thresholds") or {})])
    )
    lines = []
    for name in names:
        words = [
            str(part)
            for part in (
                (drift.get("methods") or {}).get(name),
                (drift.get("thresholds") or {}).get(name),
            )
            if part is not None
        ]
        lines.append(f"{name} = {' '.join(words)}")
    return "\n".join(lines)


class DriftCheckForm(forms.Form):
    """What an on-demand drift check reads: a file, or a query on a datasource."""

    file = forms.FileField(
        required=False,
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV (comma or semicolon, UTF-8 or Latin-1), Parquet or Excel "
            "(.xlsx), with the model's input columns."
        ),
    )
    datasource = forms.ChoiceField(
        required=False, choices=(), label=gettext_lazy("Datasource")
    )
    sql = forms.CharField(
        required=False,
        label=gettext_lazy("Query"),
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=gettext_lazy(
            "One SELECT returning the model's input columns; it runs read-only."
        ),
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
