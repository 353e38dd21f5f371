import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils.translation import trans_real


@pytest.fixture(scope="session")
def pt_br_catalogue():
    """The pt_BR catalogue compiled (make test does it; a bare pytest may not)."""
    folder = settings.BASE_DIR / "locale" / "pt_BR" / "LC_MESSAGES"
    source, compiled = folder / "django.po", folder / "django.mo"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        call_command("compilemessages", locale=["pt_BR"], verbosity=0)
        # Catalogues are cached per process: forget any loaded before this.
        trans_real._translations = {}
        trans_real._default = None
    return compiled
