"""In Chromium: upload a file, train it with the real worker, open the model."""

import subprocess
import sys

import pytest
from django.conf import settings

from conftest import browser_login, wait_until
from mlframework.core import demo
from registry.models import TrainingJob

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
    pytest.mark.browser,
    pytest.mark.slow,
]


@pytest.fixture
def worker(process_env):
    process = subprocess.Popen(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "db_worker",
            "--queue-name",
            "training",
            "--no-startup-delay",
            "--interval",
            "0.2",
        ],
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_upload_train_and_open_the_model(page, live_server, analyst, worker):
    browser_login(page, live_server, "ana")
    page.click("text=Models")
    page.click("text=Upload a dataset and train")
    page.set_input_files("input[name=file]", str(demo.CSV))
    page.click("button:has-text('Upload')")
    page.wait_for_selector("h1:has-text('penguins')")
    assert page.locator("canvas[data-histogram]").count() == 8

    page.click("text=Train a model on this dataset")
    page.fill("input[name=model_name]", "birds")
    page.select_option("select[name=label]", "species")
    page.wait_for_selector("[data-testid=plan]:has-text('multiclass')")
    page.fill("input[name=time_limit]", "8")
    page.click("button:has-text('Queue training')")

    page.wait_for_selector("[data-testid=job-status]")
    # The progress partial refreshes itself until the worker is done.
    page.wait_for_selector("[data-testid=version-link]", timeout=150_000)
    job = TrainingJob.objects.get()
    assert job.status == "succeeded", job.error
    page.click("[data-testid=version-link]")
    page.wait_for_selector("h1:has-text('birds')")
    assert page.locator("[data-testid=version-status]").inner_text() == "Ready"
    assert float(page.locator("[data-testid=eval-score]").inner_text()) > 0.8
    assert "autogluon 1.6.3" in page.locator("[data-testid=lineage]").inner_text()
    # The page reloads itself until the analysis is in (it may be already).
    page.wait_for_selector("[data-testid=analysis]", state="detached", timeout=60_000)
    # Chart.js drew the leaderboard (the canvas has pixels, not only a tag).
    wait_until(
        page, "document.getElementById('leaderboard-chart').toDataURL().length > 2000"
    )
    assert worker.poll() is None  # the worker is still up
