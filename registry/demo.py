"""The demo model: "penguins" trained in the background on first start."""

from __future__ import annotations

from django.conf import settings

from mlframework.core import demo
from registry import datasets, jobs
from registry.models import RegisteredModel, TrainingJob
from registry.training import TrainOptions

MODEL = "penguins"


def queue_demo_model(*, user=None) -> TrainingJob | None:
    """Queue the demo training once; None when the model or its job exists."""
    if RegisteredModel.objects.filter(name=MODEL).exists():
        return None
    if (
        TrainingJob.objects.filter(model_name=MODEL)
        .exclude(status__in=[TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED])
        .exists()
    ):
        return None
    dataset, _ = datasets.store_file(demo.CSV, name="penguins (demo)", user=user)
    options = TrainOptions(
        label="species",
        time_limit=settings.CONFIG.training.demo_time_limit,
        alias="production",
    )
    return jobs.submit(dataset, MODEL, options, user=user)
