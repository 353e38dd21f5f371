"""The demo model queued on first start, once."""

import pytest
from django.core.management import call_command

from registry import jobs
from registry.demo import queue_demo_model
from registry.models import TrainingJob

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_it_queues_the_demo_model_once(settings, capsys):
    call_command("demo_model")
    job = TrainingJob.objects.get()
    assert job.model_name == "penguins"
    assert job.options["time_limit"] == settings.CONFIG.training.demo_time_limit
    assert job.options["alias"] == "production"
    assert job.options["label"] == "species"
    assert "training of penguins queued (job" in capsys.readouterr().out
    call_command("demo_model")
    assert "exists or is queued already" in capsys.readouterr().out
    assert TrainingJob.objects.count() == 1


def test_a_failed_demo_job_is_queued_again(db):
    job = queue_demo_model()
    TrainingJob.objects.filter(pk=job.pk).update(status="failed")
    assert queue_demo_model() is not None


def test_no_demo_job_once_the_model_exists(tiny_classifier):
    assert queue_demo_model() is None


@pytest.mark.slow
def test_the_demo_job_trains_a_production_model(db):
    job = queue_demo_model()
    TrainingJob.objects.filter(pk=job.pk).update(options={**job.options, "fast": True})
    assert jobs.run(job.pk) == "succeeded"
    job.refresh_from_db()
    assert job.version.aliases.get().name == "production"
    assert job.version.scores["accuracy"] > 0.9
