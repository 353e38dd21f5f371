"""The standard test world: users per role, logged-in clients, real services.

Services (MariaDB, cron, Chromium) are started by `make test` (ops/test.sh).
When a test needs one that is missing it fails under `make test`
(MLF_REQUIRE_SERVICES=1) and is skipped in a bare `pytest` run.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

ROOT = Path(__file__).resolve().parent
PASSWORD = "correct horse battery staple"


def require_service(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("MLF_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required under make test but is not available")
    pytest.skip(f"{what} is not available (run `make test`)")


# The ODBC datasources of the test config, one per engine: SQLite (the demo
# file), MariaDB and PostgreSQL (throwaway servers started by ops/test.sh).
ODBC_DATASOURCES = ["demo", "mariadb", "postgres"]


def require_datasource(name: str) -> None:
    from mlframework.lib import odbc

    if name == "demo":
        odbc.sqlite_database_path("demo").parent.mkdir(parents=True, exist_ok=True)
        return
    require_service(
        name in odbc.datasource_names() and odbc.probe(name).ok,
        f"the {name} datasource",
    )


@pytest.fixture(autouse=True, scope="session")
def _var_folders():
    from django.conf import settings

    config = settings.CONFIG
    for key in ("var", "datasets", "models", "spool", "locks", "logs", "static_root"):
        config.path(getattr(config.paths, key)).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }


def _user(django_user_model, username, group=None, **extra):
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, **extra
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def viewer(db, django_user_model):
    return _user(django_user_model, "vera", "viewer")


@pytest.fixture
def analyst(db, django_user_model):
    return _user(django_user_model, "ana", "analyst")


@pytest.fixture
def operator(db, django_user_model):
    return _user(django_user_model, "otto", "operator")


@pytest.fixture
def nobody(db, django_user_model):
    """Logged in, but in no group."""
    return _user(django_user_model, "nemo")


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", password=PASSWORD
    )


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    return _client_for(client, viewer)


@pytest.fixture
def analyst_client(client, analyst):
    return _client_for(client, analyst)


@pytest.fixture
def operator_client(client, operator):
    return _client_for(client, operator)


@pytest.fixture
def admin_client_(client, superuser):
    return _client_for(client, superuser)


class MariaDB:
    """The throwaway MariaDB that ops/test.sh started, to stop and start."""

    def __init__(self, base: str, port: str) -> None:
        self.env = {**os.environ, "BASE": base, "PORT": port}

    def stop(self) -> None:
        subprocess.run(
            ["bash", str(ROOT / "ops/mariadb_down.sh")], env=self.env, check=True
        )

    def start(self) -> None:
        subprocess.run(
            ["bash", str(ROOT / "ops/mariadb_up.sh")],
            env=self.env,
            check=True,
            capture_output=True,
        )


@pytest.fixture
def mariadb():
    base = os.environ.get("MLF_TEST_MARIADB_BASE")
    require_service(
        bool(base) and shutil.which("mariadbd") is not None, "the test MariaDB"
    )
    server = MariaDB(base, os.environ.get("MLF_TEST_MARIADB_PORT", "13306"))
    yield server
    server.start()  # whatever the test did, leave it running


@pytest.fixture
def process_env(tmp_path):
    """Environment for a subprocess (worker, cron job, manage.py) that must use
    this test's databases: a copy of the test config pointing at the test
    databases. Only committed data is visible: use transaction=True tests."""
    import yaml
    from django.conf import settings
    from django.db import connections

    raw = yaml.safe_load(Path(settings.CONFIG_FILE).read_text())
    for alias in ("default", "events"):
        raw["databases"][alias]["name"] = connections[alias].settings_dict["NAME"]
    for key in ("var", "datasets", "models", "spool", "locks", "logs", "static_root"):
        raw.setdefault("paths", {})[key] = str(
            settings.CONFIG.path(getattr(settings.CONFIG.paths, key))
        )
    file = tmp_path / "config.subprocess.yaml"
    file.write_text(yaml.safe_dump(raw))
    # Its own /metrics files: a gunicorn it starts empties the folder.
    metrics = tmp_path / "metrics"
    metrics.mkdir(exist_ok=True)
    return {
        **os.environ,
        "MLFRAMEWORK_CONFIG": str(file),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }


@pytest.fixture
def chromium_path():
    path = shutil.which("chromium")
    require_service(path is not None, "Debian's chromium")
    return path


@pytest.fixture
def browser(chromium_path):
    """A real headless Chromium (Debian's), driven by Playwright."""
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop; Django's ORM calls in the test are fine.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


def browser_login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def wait_until(page, expression: str, arg=None, timeout: float = 10.0) -> None:
    """Like page.wait_for_function, which the Content-Security-Policy refuses
    (it evaluates a string in the page); page.evaluate goes around it."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(100)


# --- Trained models (registry): real AutoGluon on the demo penguins ---------


@pytest.fixture
def penguins_frame():
    """demo/penguins.csv as the demo table holds it (with an id column)."""
    from mlframework.core import demo

    return demo.read_csv()


@pytest.fixture
def tiny_classifier(db, penguins_frame):
    """Model "penguins" v1 predicting species (multiclass), alias production.

    The predictor is fitted once per session and copied; rows are fresh."""
    from registry.tests.helpers import train_tiny

    return train_tiny(penguins_frame, "species", "penguins")


@pytest.fixture
def tiny_regressor(db, penguins_frame):
    """Model "penguins-mass" v1 predicting body_mass_g (regression)."""
    from registry.tests.helpers import train_tiny

    return train_tiny(penguins_frame, "body_mass_g", "penguins-mass")


@pytest.fixture
def fresh_predictors():
    """The registry's predictor cache, empty before and after the test."""
    from registry.cache import predictors

    predictors.clear()
    yield predictors
    predictors.clear()


@pytest.fixture
def slurm_cluster():
    """The one-node Slurm ops/test.sh starts (SLURM_CONF); every job of this
    installation (its cron tag in the name) a test leaves queued or running is
    cancelled (scancel) after it."""
    from mlframework.core.executors import job_prefix
    from mlframework.lib import slurm

    up = shutil.which("sbatch") is not None and slurm.ping().up
    require_service(up, "the test Slurm cluster (ops/slurm_up.sh, SLURM_CONF)")
    before = {job.job_id for job in slurm.queue()}
    conf = os.environ.get("SLURM_CONF")
    yield slurm
    if conf:  # a test may have pointed SLURM_CONF at a controller that is down
        os.environ["SLURM_CONF"] = conf
    for job in slurm.queue():
        if job.job_id not in before and job.name.startswith(job_prefix()):
            slurm.cancel(job.job_id)


@pytest.fixture
def node_restored(slurm_cluster):
    """The test may take the cluster's node down (scontrol): it is resumed and
    idle again afterwards, for the tests that follow."""
    yield "localhost"
    subprocess.run(
        ["scontrol", "update", "NodeName=localhost", "State=RESUME"],
        capture_output=True,
        timeout=30,
        check=False,  # not down: nothing to resume
    )
    deadline = time.monotonic() + 120
    while any(node.state != "idle" for node in slurm_cluster.nodes()):
        if time.monotonic() > deadline:
            pytest.fail("the Slurm node did not come back idle within 120 s")
        time.sleep(1)


# --- Languages -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """A request activates its language for the thread (LocaleMiddleware) and
    nothing deactivates it: the next test would start in pt-BR."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def pt_br_catalogue():
    """The pt_BR catalogue compiled (make test does it; a bare pytest may not,
    and every page test may render Portuguese)."""
    from django.conf import settings
    from django.core.management import call_command
    from django.utils.translation import trans_real

    folder = settings.BASE_DIR / "locale" / "pt_BR" / "LC_MESSAGES"
    source, compiled = folder / "django.po", folder / "django.mo"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        call_command("compilemessages", locale=["pt_BR"], verbosity=0)
        # Catalogues are cached per process: forget any loaded before this.
        trans_real._translations = {}
        trans_real._default = None
    return compiled
