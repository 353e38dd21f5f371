"""Retention of finished training jobs (with their logs) and unused datasets."""

import datetime as dt

import pytest
from django.utils import timezone

from mlframework.core import demo
from registry import datasets, jobs
from registry.models import Dataset, TrainingJob

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=200)


def _stored(name: str) -> Dataset:
    dataset, _ = datasets.store_file(demo.CSV, name=name)
    return dataset


def _job(dataset, status, finished=OLD, **fields) -> TrainingJob:
    job = TrainingJob.objects.create(
        dataset=dataset,
        model_name="m",
        options={"label": "species"},
        status=status,
        finished=finished,
        **fields,
    )
    jobs.log_path(job).write_text("training log")
    return job


def test_old_finished_jobs_go_with_their_logs(db):
    dataset = _stored("penguins")
    gone = [
        _job(dataset, TrainingJob.Status.SUCCEEDED),
        _job(dataset, TrainingJob.Status.FAILED),
        _job(dataset, TrainingJob.Status.CANCELLED),
    ]
    recent = _job(dataset, TrainingJob.Status.SUCCEEDED, finished=NOW)
    queued = _job(dataset, TrainingJob.Status.QUEUED, finished=None)
    running = _job(dataset, TrainingJob.Status.RUNNING, finished=None)
    assert jobs.prune_jobs(NOW - dt.timedelta(days=180), batch=2) == 3
    left = set(TrainingJob.objects.values_list("pk", flat=True))
    assert left == {recent.pk, queued.pk, running.pk}
    assert not any(jobs.log_path(job).exists() for job in gone)
    assert jobs.log_path(recent).exists()


def test_the_versions_a_pruned_job_made_stay(tiny_classifier):
    dataset = _stored("penguins")
    _job(dataset, TrainingJob.Status.SUCCEEDED, version=tiny_classifier)
    assert jobs.prune_jobs(NOW - dt.timedelta(days=180), batch=10) == 1
    tiny_classifier.refresh_from_db()


def test_only_old_datasets_nobody_uses_go_with_their_files(tiny_classifier):
    used_by_version = _stored("penguins")
    tiny_classifier.dataset = used_by_version
    tiny_classifier.save(update_fields=["dataset"])
    other = b"a,b\n1,2\n3,4\n"
    used_by_job, _ = datasets.store_upload([other], filename="job.csv", name="job")
    _job(used_by_job, TrainingJob.Status.QUEUED, finished=None)
    unused, _ = datasets.store_upload([b"a,c\n1,2\n"], filename="old.csv", name="old")
    fresh, _ = datasets.store_upload([b"a,d\n1,2\n"], filename="new.csv", name="new")
    Dataset.objects.exclude(pk=fresh.pk).update(created=OLD)
    assert datasets.prune_unused(NOW - dt.timedelta(days=90), batch=1) == 1
    assert not Dataset.objects.filter(pk=unused.pk).exists()
    assert not datasets.path_of(unused).exists()
    assert set(Dataset.objects.values_list("pk", flat=True)) == {
        used_by_version.pk,
        used_by_job.pk,
        fresh.pk,
    }
    assert datasets.path_of(fresh).exists()
