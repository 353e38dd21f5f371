from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mlframework.core import executors
from mlframework.lib import odbc
from registry import autogluon, parsing
from registry.challengers import PromotionRule
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


class QuerySnapshotForm(forms.Form):
    """A dataset from a datasource's query (registry.snapshots)."""

    datasource = forms.ChoiceField(label=gettext_lazy("Datasource"))
    query = forms.CharField(
        label=gettext_lazy("SQL query"),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text=gettext_lazy(
            "One SELECT; it runs read-only. Write parameters as :name "
            "(e.g. WHERE day >= :as_of)."
        ),
    )
    params = forms.CharField(
        label=gettext_lazy("Parameters"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text=gettext_lazy(
            "One per line: name=value, for each :name in the query."
        ),
    )
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Defaults to the datasource and the time."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["datasource"].choices = [
            (name, name) for name in odbc.datasource_names()
        ]

    def clean_params(self) -> dict[str, str]:
        return parse_params(self.cleaned_data["params"])


def parse_params(text: str) -> dict[str, str]:
    """name=value lines as a dict; ValidationError names the line."""
    params: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        name = name.strip()
        if not equals or not name.isidentifier():
            raise ValidationError(
                _("Line %(line)s is not name=value (e.g. as_of=2024-01-01).")
                % {"line": number}
            )
        if name in params:
            raise ValidationError(
                _("Line %(line)s gives %(name)s a second time.")
                % {"line": number, "name": name}
            )
        params[name] = value.strip()
    return params


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
    sensitive = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Sensitive columns"),
        help_text=gettext_lazy(
            "Optional: measure fairness per group of these columns on the "
            "held-out rows once trained. They may be excluded from training."
        ),
    )
    make_production = forms.BooleanField(
        required=False,
        initial=False,
        label=gettext_lazy("Point the production alias at the new version"),
        help_text=gettext_lazy("A model's first version always becomes production."),
    )
    executor = forms.ChoiceField(
        required=False,
        choices=executors.Executor.choices,
        label=gettext_lazy("Trains on"),
        help_text=gettext_lazy("This host (the task worker) or a Slurm job."),
    )
    slurm_cpus = forms.IntegerField(
        required=False, min_value=1, max_value=1024, label=gettext_lazy("Slurm CPUs")
    )
    slurm_memory = forms.RegexField(
        required=False,
        regex=r"^[1-9][0-9]*[KMGT]?$",
        max_length=16,
        label=gettext_lazy("Slurm memory"),
        help_text=gettext_lazy(
            "Like 512M or 2G; empty: executors.slurm in config.yaml."
        ),
        error_messages={"invalid": gettext_lazy("Memory is written like 512M or 2G.")},
    )
    slurm_time_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=60 * 24 * 30,
        label=gettext_lazy("Slurm time limit (minutes)"),
        help_text=gettext_lazy(
            "Empty: twice the training time plus 15 minutes, at least "
            "executors.slurm.time_limit."
        ),
    )

    def __init__(self, *args, columns: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        config = settings.CONFIG.training
        choices = [(c, c) for c in columns]
        self.fields["label"].choices = choices
        self.fields["excluded"].choices = choices
        self.fields["sensitive"].choices = choices
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


class ProposeForm(forms.Form):
    """Propose a version as challenger to the version an alias points at."""

    alias = forms.CharField(
        max_length=63,
        initial="production",
        validators=[slug_validator],
        label=gettext_lazy("Against the alias"),
    )
    min_improvement = forms.FloatField(
        initial=0.0,
        label=gettext_lazy("Minimum improvement"),
        help_text=gettext_lazy("On the eval metric, in its better direction."),
    )
    max_fairness_gap_increase = forms.FloatField(
        required=False,
        min_value=0.0,
        label=gettext_lazy("Largest fairness gap increase"),
        help_text=gettext_lazy("Empty: not checked."),
    )
    needs_approval = forms.BooleanField(
        required=False, initial=True, label=gettext_lazy("A person approves")
    )
    shadow_runs = forms.IntegerField(
        min_value=0,
        max_value=1000,
        initial=0,
        label=gettext_lazy("Shadow dispatch runs"),
        help_text=gettext_lazy(
            "While it waits, it also predicts in the champion's next runs."
        ),
    )
    origin = forms.CharField(
        max_length=500, required=False, label=gettext_lazy("Origin")
    )

    def rule(self):
        data = self.cleaned_data
        return PromotionRule(
            min_improvement=data["min_improvement"],
            max_fairness_gap_increase=data["max_fairness_gap_increase"],
            needs_approval=data["needs_approval"],
        )


class DecisionForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        strip=True,
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Give a reason for the decision.")},
    )


class RollbackForm(forms.Form):
    alias = forms.CharField(
        max_length=63, initial="production", validators=[slug_validator]
    )
    reason = forms.CharField(
        max_length=2000, required=False, label=gettext_lazy("Reason")
    )


class FairnessForm(forms.Form):
    """The sensitive columns to measure a version's fairness per group on."""

    sensitive = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Sensitive columns"),
        error_messages={"required": gettext_lazy("Choose at least one column.")},
    )

    def __init__(self, *args, columns: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sensitive"].choices = [(c, c) for c in columns]


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

    sheet = forms.ChoiceField(label=gettext_lazy("Sheet"))
    header_row = forms.IntegerField(
        label=gettext_lazy("Header is on row"),
        min_value=1,
        max_value=1_048_576,  # Excel's last row
        help_text=gettext_lazy(
            "The sheet row holding the column names (rows above it are skipped)."
        ),
    )

    def __init__(self, *args, sheets: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sheet"].choices = [(name, name) for name in sheets]
