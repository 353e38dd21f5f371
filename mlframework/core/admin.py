from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from mlframework.core.models import Profile


class ProfileInline(admin.StackedInline):
    """The user's own settings (the interface language) on the user's page."""

    model = Profile
    can_delete = False
    fields = ("language",)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithProfileAdmin(UserAdmin):
    """Django's own user admin, with the profile on its change page."""

    inlines = [*UserAdmin.inlines, ProfileInline]
