"""Forms: the dispatch definition (validated against the real source and the
model's schema), the enable/disable switch, the run filters."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dispatch import crontab, schedule
from dispatch.models import Dispatch, RunStatus, Trigger
from dispatch.runner import RESERVED
from mlframework.core import executors
from mlframework.lib import odbc
from registry import services as registry
from registry.errors import RegistryError

PREVIEW_ROWS = 5


def _datasource_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in odbc.datasource_names()]


class _CronField:
    """clean_cron for the forms with a cron expression: checked by schedule."""

    def clean_cron(self) -> str:
        try:
            expression = schedule.validate(self.cleaned_data["cron"])
            crontab.check_schedule(expression)
        except (schedule.ScheduleError, crontab.CrontabError) as exc:
            raise forms.ValidationError(str(exc)) from None
        return expression


class DispatchForm(_CronField, forms.ModelForm):
    source_datasource = forms.ChoiceField(
        choices=(), label=gettext_lazy("Source datasource")
    )
    sink_datasource = forms.ChoiceField(
        choices=(), label=gettext_lazy("Sink datasource")
    )
    key_columns = forms.CharField(
        required=False,
        label=gettext_lazy("Key columns"),
        help_text=gettext_lazy(
            "Columns copied from the source to each prediction, "
            "comma-separated (e.g. id)."
        ),
    )

    class Meta:
        model = Dispatch
        fields = [
            "name",
            "description",
            "model",
            "version_ref",
            "source_datasource",
            "source_query",
            "sink_datasource",
            "sink_table",
            "sink_mode",
            "create_table",
            "run_key_format",
            "key_columns",
            "page_by",
            "include_probabilities",
            "cron",
            "timezone",
            "enabled",
            "retries",
            "retry_backoff_seconds",
            "chunk_size",
            "grace_minutes",
            "executor",
            "slurm_partition",
            "slurm_cpus",
            "slurm_memory",
            "slurm_time_limit",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "source_query": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = _datasource_choices()
        self.fields["source_datasource"].choices = choices
        self.fields["sink_datasource"].choices = choices
        if self.instance.pk:
            self.initial["key_columns"] = ", ".join(self.instance.key_columns)
        else:
            self.initial.setdefault("timezone", settings.CONFIG.cron.timezone)
        self.fields["chunk_size"].min_value = 1
        self.fields["chunk_size"].widget.attrs["min"] = 1
        self.fields["executor"] = forms.ChoiceField(
            choices=executors.Executor.choices,
            required=False,
            label=_("Runs on"),
            help_text=_("Where its runs execute; as configured: executors.default."),
        )
        for name in ("slurm_cpus", "slurm_time_limit"):
            self.fields[name].min_value = 1
            self.fields[name].widget.attrs["min"] = 1
            self.fields[name].validators.append(MinValueValidator(1))
        self.fields["slurm_partition"].label = _("Slurm partition")
        self.fields["slurm_cpus"].label = _("Slurm CPUs")
        self.fields["slurm_memory"].label = _("Slurm memory")
        self.fields["slurm_time_limit"].label = _("Slurm time limit (minutes)")
        for name in ("slurm_partition", "slurm_cpus", "slurm_memory"):
            self.fields[name].help_text = _("Empty: executors.slurm in config.yaml.")
        self.preview: dict | None = None
        self.version = None

    def clean_slurm_partition(self) -> str:
        value = self.cleaned_data["slurm_partition"].strip()
        if value and not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise forms.ValidationError(
                _("A partition name holds only letters, digits, _ . and -.")
            )
        return value

    def clean_slurm_memory(self) -> str:
        value = self.cleaned_data["slurm_memory"].strip().upper()
        if value and not re.fullmatch(r"[1-9][0-9]*[KMGT]?", value):
            raise forms.ValidationError(_("Memory is written like 512M or 2G."))
        return value

    def clean_timezone(self) -> str:
        try:
            return schedule.validate_timezone(self.cleaned_data["timezone"])
        except schedule.ScheduleError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_sink_table(self) -> str:
        name = self.cleaned_data["sink_table"].strip()
        try:
            odbc.quote_identifier(name)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return name

    def clean_key_columns(self) -> list[str]:
        names = [n.strip() for n in self.cleaned_data["key_columns"].split(",")]
        names = [n for n in names if n]
        for name in names:
            try:
                odbc.quote_identifier(name)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
            if name in RESERVED:
                raise forms.ValidationError(
                    _("%(name)s is a column the dispatch adds itself (%(reserved)s)")
                    % {"name": name, "reserved": ", ".join(RESERVED)}
                )
        if len(set(names)) != len(names):
            raise forms.ValidationError(_("names a column twice"))
        return names

    def clean_page_by(self) -> str:
        name = self.cleaned_data["page_by"].strip()
        if name:
            try:
                odbc.quote_identifier(name)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return name

    def clean_run_key_format(self) -> str:
        value = self.cleaned_data["run_key_format"]
        try:
            text = dt.datetime(2026, 1, 2, 3, 4).strftime(value)
        except ValueError as exc:
            raise forms.ValidationError(
                _("is not a strftime pattern: %(error)s") % {"error": exc}
            ) from None
        if not text or len(text) > 64:
            raise forms.ValidationError(_("must give a key of 1 to 64 characters"))
        return value

    def clean_chunk_size(self) -> int:
        value = self.cleaned_data["chunk_size"]
        if not 1 <= value <= 1_000_000:
            raise forms.ValidationError(_("must be between 1 and 1,000,000 rows"))
        return value

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if data.get("enabled"):
            try:
                schedule.for_cron_daemon(data["cron"], data["timezone"])
            except schedule.ScheduleError as exc:
                self.add_error("timezone", str(exc))
        try:
            self.version = registry.resolve(data["model"], data["version_ref"])
        except RegistryError as exc:
            self.add_error("version_ref", str(exc))
            return data
        self._test_query(data)
        return data

    def _test_query(self, data) -> None:
        """Run the query on a few rows and check its columns against the model."""
        try:
            columns, rows = odbc.preview(
                data["source_datasource"], data["source_query"], PREVIEW_ROWS
            )
        except odbc.ReadOnlyError as exc:
            self.add_error(
                "source_query", _("The query is refused: %(error)s") % {"error": exc}
            )
            return
        except odbc.OdbcError as exc:
            self.add_error(
                "source_query", _("The query failed: %(error)s") % {"error": exc}
            )
            return
        self.preview = {
            "columns": columns,
            "rows": [[row[c] for c in columns] for row in rows],
        }
        check = registry.check_schema(self.version, columns)
        if check.missing:
            self.add_error(
                "source_query",
                _(
                    "The query lacks column(s) %(columns)s that %(version)s needs "
                    "(extra columns are ignored)."
                )
                % {"columns": ", ".join(check.missing), "version": self.version},
            )
        missing_keys = [c for c in data["key_columns"] if c not in columns]
        if missing_keys:
            self.add_error(
                "key_columns",
                _("not in the query's result: %(columns)s")
                % {"columns": ", ".join(missing_keys)},
            )
        page_by = data.get("page_by")
        if page_by and page_by not in columns:
            self.add_error(
                "page_by",
                _("%(column)s is not in the query's result") % {"column": page_by},
            )
        elif page_by and any(
            not isinstance(row[page_by], int) or isinstance(row[page_by], bool)
            for row in rows
        ):
            self.add_error(
                "page_by",
                _("%(column)s must hold integers (the query gave %(value)r)")
                % {
                    "column": page_by,
                    "value": next(row[page_by] for row in rows),
                },
            )


class SchedulePreviewForm(_CronField, forms.Form):
    """The live cron preview (GET): plain words and the next five runs."""

    cron = forms.CharField(max_length=100, label=gettext_lazy("Cron expression"))
    timezone = forms.CharField(
        max_length=64, required=False, label=gettext_lazy("Timezone")
    )

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"] or settings.CONFIG.cron.timezone
        try:
            return schedule.validate_timezone(name)
        except schedule.ScheduleError as exc:
            raise forms.ValidationError(str(exc)) from None

    def preview(self) -> dict:
        data = self.cleaned_data
        return {
            "description": schedule.describe(data["cron"], data["timezone"]),
            "next_runs": schedule.next_times(data["cron"], data["timezone"]),
            "zone": zoneinfo.ZoneInfo(data["timezone"]),
        }


class SwitchForm(forms.Form):
    enabled = forms.BooleanField(required=False, label=gettext_lazy("Enabled"))
    reason = forms.CharField(
        required=False, max_length=500, label=gettext_lazy("Reason")
    )


class PauseAllForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=500, label=gettext_lazy("Reason")
    )


class RunFilterForm(forms.Form):
    dispatch = forms.ModelChoiceField(
        queryset=Dispatch.objects.all(),
        required=False,
        label=gettext_lazy("Dispatch"),
        empty_label=gettext_lazy("any dispatch"),
    )
    status = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Status"),
        choices=[("", gettext_lazy("any status")), *RunStatus.choices],
    )
    trigger = forms.ChoiceField(
        required=False,
        label=gettext_lazy("Trigger"),
        choices=[("", gettext_lazy("any trigger")), *Trigger.choices],
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filter(self, queryset):
        data = self.cleaned_data
        if data.get("dispatch"):
            queryset = queryset.filter(dispatch=data["dispatch"])
        for name in ("status", "trigger"):
            if data.get(name):
                queryset = queryset.filter(**{name: data[name]})
        return queryset
