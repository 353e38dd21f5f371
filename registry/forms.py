from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from registry import autogluon, parsing
from registry.models import ModelVersion, RegisteredModel, slug_validator
from registry.training import AUTO, TrainOptions

# Names the registry's own URLs use under /models/.
RESERVED_NAMES = {"datasets", "jobs", "api", "compare", "new"}


def validate_model_name(name: str) -> None:
    slug_validator(name)
    if name in RESERVED_NAMES:
        raise ValidationError(f"{name!r} is reserved; choose another model name.")


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (comma or semicolon, UTF-8 or Latin-1), Parquet or Excel "
        "(.xlsx)."
    )
    name = forms.CharField(
        max_length=200, required=False, help_text="Defaults to the file name."
    )


class TrainForm(forms.Form):
    model_name = forms.CharField(
        max_length=63,
        validators=[validate_model_name],
        help_text="A new name, or an existing model to add a version to.",
    )
    label = forms.ChoiceField(help_text="The column to predict.")
    problem_type = forms.ChoiceField(
        initial=AUTO,
        choices=[
            (AUTO, "Automatic"),
            ("binary", "Binary classification"),
            ("multiclass", "Multiclass classification"),
            ("regression", "Regression"),
        ],
    )
    eval_metric = forms.ChoiceField(
        required=False,
        choices=[("", "Default for the problem type")]
        + [(m, m) for m in autogluon.ALL_METRICS],
    )
    preset = forms.ChoiceField()
    time_limit = forms.IntegerField(min_value=1, help_text="Seconds.")
    excluded = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Columns left out of training (IDs, leaks).",
    )
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=0)
    make_production = forms.BooleanField(
        required=False,
        initial=False,
        label="Point the production alias at the new version",
        help_text="A model's first version always becomes production.",
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
            raise ValidationError(f"At most {limit} seconds (training.max_time_limit).")
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
        max_length=63, initial="production", validators=[slug_validator]
    )


class CompareForm(forms.Form):
    a = forms.IntegerField(min_value=1, label="Version")
    b = forms.IntegerField(min_value=1, label="against version")

    def __init__(self, *args, model: RegisteredModel, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model = model

    def _version(self, number: int) -> ModelVersion:
        version = self.model.versions.filter(number=number).first()
        if version is None:
            raise ValidationError(f"{self.model.name} has no version {number}.")
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


def _type_choices() -> list[tuple[str, str]]:
    """One choice per type and convention: "number:comma", "date:iso", ..."""
    choices = []
    for kind, label in parsing.TYPES.items():
        conventions = parsing.CONVENTIONS.get(kind)
        if not conventions:
            choices.append((kind, label))
            continue
        for convention, rule in conventions.items():
            choices.append((f"{kind}:{convention}", f"{label} ({rule})"))
    return choices


def type_choice(column: parsing.ColumnType) -> str:
    if column.type == parsing.NUMBER:
        return f"{column.type}:{column.convention or parsing.POINT}"
    if column.type == parsing.DATE:
        return f"{column.type}:{column.convention or parsing.ISO}"
    return column.type


class ColumnTypesForm(forms.Form):
    """The type of each column of a dataset, as detected or set by hand; a
    field per column (``type_0``, ``type_1``, ... in file order)."""

    def __init__(self, *args, columns: tuple[parsing.ColumnType, ...], **kwargs):
        super().__init__(*args, **kwargs)
        self.columns = columns
        choices = _type_choices()
        for index, column in enumerate(columns):
            self.fields[f"type_{index}"] = forms.ChoiceField(
                label=column.name, choices=choices, initial=type_choice(column)
            )

    def rows(self) -> list[tuple[parsing.ColumnType, forms.BoundField]]:
        return [(c, self[f"type_{i}"]) for i, c in enumerate(self.columns)]

    def corrections(self) -> dict:
        """{column: {"type", "convention"}} for the columns whose choice changed."""
        changed = {}
        for index, column in enumerate(self.columns):
            chosen = self.cleaned_data[f"type_{index}"]
            if chosen == type_choice(column):
                continue
            kind, _sep, convention = chosen.partition(":")
            changed[column.name] = {"type": kind, "convention": convention}
        return changed

    def clean(self):
        data = super().clean()
        if not self.errors and all(
            data.get(f"type_{i}") == parsing.IGNORE for i in range(len(self.columns))
        ):
            raise ValidationError(_("At least one column must be read."))
        return data


class SheetForm(forms.Form):
    """Which sheet of an Excel workbook, and the row its header is on."""

    sheet = forms.ChoiceField(label=_("Sheet"))
    header_row = forms.IntegerField(
        label=_("Header is on row"),
        min_value=1,
        max_value=1_048_576,  # Excel's last row
        help_text=_(
            "The sheet row holding the column names (rows above it are skipped)."
        ),
    )

    def __init__(self, *args, sheets: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sheet"].choices = [(name, name) for name in sheets]
