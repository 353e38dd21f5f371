from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.utils.translation import gettext_lazy as _

from mlframework.core.models import Profile


class UserChangeWithLanguageForm(UserChangeForm):
    """Django's user change form plus the user's interface language.

    A plain form field kept in the user's Profile (not an inline), so that the
    change form posts as Django's own does.
    """

    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Browser's language")), *settings.LANGUAGES],
        help_text=Profile._meta.get_field("language").help_text,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            profile = Profile.objects.filter(user=self.instance).first()
            self.fields["language"].initial = profile.language if profile else ""


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithLanguageAdmin(UserAdmin):
    """Django's own user admin, with the language on the change page."""

    form = UserChangeWithLanguageForm
    fieldsets = [*UserAdmin.fieldsets, (_("Preferences"), {"fields": ("language",)})]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if "language" in form.cleaned_data:
            Profile.objects.update_or_create(
                user=obj, defaults={"language": form.cleaned_data["language"]}
            )
