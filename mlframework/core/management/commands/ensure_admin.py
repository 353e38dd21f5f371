import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mlframework.events.log import log_event


class Command(BaseCommand):
    help = (
        "Create the first superuser if there is none. The password comes from "
        "MLFRAMEWORK_ADMIN_PASSWORD, or is generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--username", default=os.environ.get("MLFRAMEWORK_ADMIN_USER", "admin")
        )

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("admin: a superuser already exists")
            return
        if User.objects.filter(username=username).exists():
            raise CommandError(f"admin: user {username!r} exists but is no superuser")
        password = os.environ.get("MLFRAMEWORK_ADMIN_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, password=password)
        log_event("core", "admin.created", f"superuser {username} created", user=user)
        if generated:
            # Printed once, on the terminal that ran set-up; never logged.
            self.stdout.write(
                f"admin: created superuser {username!r} with password {password}\n"
                "       (shown only now: change it in the admin)"
            )
        else:
            self.stdout.write(f"admin: created superuser {username!r}")
