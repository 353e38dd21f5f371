from django import forms


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
