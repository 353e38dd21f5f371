import datetime as dt
import uuid

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from mlframework.events.models import Level


class EventFilterForm(forms.Form):
    """The Events page filters (GET). All optional."""

    source = forms.CharField(label=_("Source"), required=False, max_length=32)
    kind = forms.CharField(label=_("Kind"), required=False, max_length=64)
    level = forms.ChoiceField(
        label=_("Level"), required=False, choices=[("", _("any level")), *Level.choices]
    )
    # type=date inputs send ISO dates whatever the language.
    since = forms.DateField(
        label=_("Since"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    until = forms.DateField(
        label=_("Until"),
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    q = forms.CharField(required=False, max_length=200, label=_("Text"))
    dispatch_run = forms.IntegerField(
        required=False, min_value=1, widget=forms.HiddenInput
    )
    model_version = forms.IntegerField(
        required=False, min_value=1, widget=forms.HiddenInput
    )
    before = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("must not be before the 'since' date"))
        return data

    def clean_before(self) -> tuple | None:
        value = self.cleaned_data.get("before")
        if not value:
            return None
        created, _sep, event_id = value.partition("_")
        moment = parse_datetime(created)
        try:
            parsed_id = uuid.UUID(event_id)
        except ValueError:
            parsed_id = None
        if moment is None or parsed_id is None:
            raise forms.ValidationError(_("is not a valid page marker"))
        return moment, parsed_id

    def filter(self, queryset):
        data = self.cleaned_data
        for field in ("source", "kind", "level"):
            if data.get(field):
                queryset = queryset.filter(**{field: data[field]})
        if data.get("dispatch_run"):
            queryset = queryset.filter(dispatch_run_id=data["dispatch_run"])
        if data.get("model_version"):
            queryset = queryset.filter(model_version_id=data["model_version"])
        zone = timezone.get_current_timezone()
        if data.get("since"):
            start = dt.datetime.combine(data["since"], dt.time.min, tzinfo=zone)
            queryset = queryset.filter(created__gte=start)
        if data.get("until"):
            end = dt.datetime.combine(data["until"], dt.time.min, tzinfo=zone)
            queryset = queryset.filter(created__lt=end + dt.timedelta(days=1))
        if data.get("q"):
            queryset = queryset.filter(message__icontains=data["q"])
        return queryset
