from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db(databases=["default", "events"])
def test_models_match_migrations():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(f"models and migrations differ:\n{out.getvalue()}")
