from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry import autogluon
from registry.models import ModelVersion, RegisteredModel, slug_validator
from registry.training import AUTO, TrainOptions

# Names the registry's own URLs use under /models/.
RESERVED_NAMES = {"datasets", "jobs", "api", "compare", "new"}


def validate_model_name(name: str) -> None:
    slug_validator(name)
    if name in RESERVED_NAMES:
        raise ValidationError(
            _("%(name)r is reserved; choose another model name.") % {"name": name}
        )


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV (comma or semicolon, UTF-8 or Latin-1), Parquet or Excel (.xlsx)."
        ),
    )
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Defaults to the file name."),
    )


class TrainForm(forms.Form):
    model_name = forms.CharField(
        label=gettext_lazy("Model name"),
        max_length=63,
        validators=[validate_model_name],
        help_text=gettext_lazy("A new name, or an existing model to add a version to."),
    )
    label = forms.ChoiceField(
        label=gettext_lazy("Label column"),
        help_text=gettext_lazy("The column to predict."),
    )
    problem_type = forms.ChoiceField(
        label=gettext_lazy("Problem type"),
        initial=AUTO,
        choices=[
            (AUTO, gettext_lazy("Automatic")),
            ("binary", gettext_lazy("Binary classification")),
            ("multiclass", gettext_lazy("Multiclass classification")),
            ("regression", gettext_lazy("Regression")),
        ],
    )
    eval_metric = forms.ChoiceField(
        label=gettext_lazy("Eval metric"),
        required=False,
        choices=[("", gettext_lazy("Default for the problem type"))]
        + [(m, m) for m in autogluon.ALL_METRICS],
    )
    preset = forms.ChoiceField(label=gettext_lazy("Preset"))
    time_limit = forms.IntegerField(
        label=gettext_lazy("Time limit (s)"),
        min_value=1,
        help_text=gettext_lazy("Seconds."),
    )
    excluded = forms.MultipleChoiceField(
        label=gettext_lazy("Columns to exclude"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Columns left out of training (IDs, leaks)."),
    )
    seed = forms.IntegerField(
        label=gettext_lazy("Random seed"), min_value=0, max_value=2**31 - 1, initial=0
    )
    make_production = forms.BooleanField(
        required=False,
        initial=False,
        label=gettext_lazy("Point the production alias at the new version"),
        help_text=gettext_lazy("A model's first version always becomes production."),
    )

    def __init__(self, *args, columns: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        config = settings.CONFIG.training
        choices = [(c, c) for c in columns]
        self.fields["label"].choices = choices
        self.fields["excluded"].choices = choices
        self.fields["preset"].choices = [(p, p) for p in config.presets]
        self.fields["preset"].initial = config.default_preset
        self.fields["time_limit"].initial = config.default_time_limit
        self.fields["time_limit"].widget.attrs["max"] = config.max_time_limit

    def clean_time_limit(self) -> int:
        value = self.cleaned_data["time_limit"]
        limit = settings.CONFIG.training.max_time_limit
        if value > limit:
            raise ValidationError(
                _("At most %(limit)s seconds (training.max_time_limit).")
                % {"limit": limit}
            )
        return value

    def options(self) -> TrainOptions:
        return TrainOptions.from_choices(self.cleaned_data)


class PlanForm(forms.Form):
    """GET parameters of the live "what will training do" preview."""

    label = forms.CharField(max_length=200)
    problem_type = forms.CharField(max_length=16, required=False)
    excluded = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, columns: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["excluded"].choices = [(c, c) for c in columns]


class AliasForm(forms.Form):
    alias = forms.CharField(
        label=gettext_lazy("Alias"),
        max_length=63,
        initial="production",
        validators=[slug_validator],
    )


class CompareForm(forms.Form):
    a = forms.IntegerField(min_value=1, label=gettext_lazy("Version"))
    b = forms.IntegerField(min_value=1, label=gettext_lazy("against version"))

    def __init__(self, *args, model: RegisteredModel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model = model

    def _version(self, number: int) -> ModelVersion:
        version = self.model.versions.filter(number=number).first()
        if version is None:
            raise ValidationError(
                _("%(model)s has no version %(number)s.")
                % {"model": self.model.name, "number": number}
            )
        return version

    def clean(self):
        data = super().clean()
        for key in ("a", "b"):
            if data.get(key):
                try:
                    data[f"{key}_version"] = self._version(data[key])
                except ValidationError as exc:
                    self.add_error(key, exc)
        return data
