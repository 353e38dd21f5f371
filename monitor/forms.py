from django import forms

from monitor.drift.pages import DEFAULT_RUNS, MAX_RUNS


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


class DriftPageForm(forms.Form):
    """The Drift page's GET filters: how many runs, which run and feature."""

    runs = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_RUNS,
        label="Last runs",
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_RUNS)}),
    )
    run = forms.IntegerField(
        required=False,
        min_value=1,
        label="Run",
        widget=forms.NumberInput(attrs={"placeholder": "the latest checked"}),
    )
    feature = forms.CharField(
        required=False,
        max_length=200,
        label="Feature",
        widget=forms.TextInput(attrs={"placeholder": "the most important"}),
    )

    def clean_runs(self) -> int:
        return self.cleaned_data["runs"] or DEFAULT_RUNS
