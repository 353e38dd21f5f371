"""The retrain policy form: the policy's fields plus the settings it overrides."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from registry import autogluon, retraining
from registry.models import RetrainPolicy


class PolicyForm(forms.ModelForm):
    preset = forms.ChoiceField(
        required=False, label=_("Preset"), help_text=_("Blank: the champion's.")
    )
    time_limit = forms.IntegerField(
        required=False,
        min_value=1,
        label=_("Time limit (s)"),
        help_text=_("Blank: the champion's."),
    )
    eval_metric = forms.ChoiceField(
        required=False,
        label=_("Metric"),
        choices=[("", _("The champion's"))] + [(m, m) for m in autogluon.ALL_METRICS],
    )
    excluded = forms.CharField(
        required=False,
        max_length=2000,
        label=_("Excluded columns"),
        help_text=_("Comma-separated; blank: the champion's."),
    )

    class Meta:
        model = RetrainPolicy
        fields = [
            "name",
            "enabled",
            "trigger",
            "cron",
            "timezone",
            "data",
            "min_interval_minutes",
            "action",
            "min_improvement",
            "max_fairness_gap_increase",
            "alias",
        ]
        labels = {
            "name": _("Name"),
            "enabled": _("Enabled"),
            "trigger": _("Trigger"),
            "cron": _("Cron schedule"),
            "timezone": _("Timezone"),
            "data": _("Data"),
            "min_interval_minutes": _("Minimum interval (minutes)"),
            "action": _("Action"),
            "min_improvement": _("Minimum improvement of the metric"),
            "max_fairness_gap_increase": _("Largest fairness gap increase"),
            "alias": _("Alias of the champion"),
        }
        help_texts = {
            "cron": _("For a schedule trigger, e.g. 0 3 * * * (daily at 03:00)."),
            "data": _("A query is run again with :as_of bound to the scheduled date."),
        }

    def __init__(self, *args, model, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = model
        presets = settings.CONFIG.training.presets
        self.fields["preset"].choices = [("", _("The champion's"))] + [
            (p, p) for p in presets
        ]
        overrides = self.instance.overrides or {}
        for key in ("preset", "time_limit", "eval_metric"):
            self.fields[key].initial = overrides.get(key)
        self.fields["excluded"].initial = ", ".join(overrides.get("excluded") or [])

    def overrides(self) -> dict:
        data = self.cleaned_data
        found = {
            key: data[key]
            for key in ("preset", "time_limit", "eval_metric")
            if data.get(key)
        }
        excluded = [c.strip() for c in (data.get("excluded") or "").split(",")]
        if any(excluded):
            found["excluded"] = [c for c in excluded if c]
        return found

    def clean_name(self):
        name = self.cleaned_data["name"]
        taken = RetrainPolicy.objects.filter(model=self.model, name=name).exclude(
            pk=self.instance.pk
        )
        if taken.exists():
            raise forms.ValidationError(
                _("Model %(model)s already has a policy %(name)s.")
                % {"model": self.model.name, "name": name}
            )
        return name

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        # The instance takes the cleaned values only after clean(): check a copy.
        candidate = RetrainPolicy(
            model=self.model,
            overrides=self.overrides(),
            **{name: data.get(name) for name in self._meta.fields},
        )
        try:
            retraining.check_policy(candidate)
        except retraining.RetrainError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
        else:
            data["cron"] = candidate.cron
        return data


class TriggerForm(forms.Form):
    """Retrain now: nothing to fill in; a Form all the same (CSRF, POST only)."""
