from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class LanguageForm(forms.Form):
    """The language menu in the page header (POST)."""

    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Browser's language")), *settings.LANGUAGES],
    )
