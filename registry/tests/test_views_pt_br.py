"""The registry's pages in pt-BR: translated, numbers and dates as Brazilians
write them (1.234,56 and dd/mm/aaaa)."""

import re

import pytest
from django.urls import reverse

from mlframework.core.models import Profile
from mlframework.core.tests.english import english_left
from registry import datasets, jobs
from registry.models import TrainingJob
from registry.training import TrainOptions

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]

DAY = re.compile(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2}\b")


@pytest.fixture
def portuguese(client, analyst):
    Profile.objects.create(user=analyst, language="pt-br")
    client.force_login(analyst)
    return client


@pytest.fixture
def big_dataset(tmp_path):
    """1234 rows: a count that needs a thousands separator."""
    lines = ["amount;kind"] + [f"{1000 + i / 4:.2f};k{i % 3}" for i in range(1234)]
    path = tmp_path / "vendas.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset, _ = datasets.store_file(path, name="vendas")
    return dataset


@pytest.fixture
def penguins_dataset(db):
    from mlframework.core import demo

    dataset, _ = datasets.store_file(demo.CSV, name="penguins")
    return dataset


def _page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content.decode()[:500]
    return response


def test_the_models_page(portuguese, tiny_classifier):
    response = _page(portuguese, reverse("registry:index"))
    assert english_left(response) == []
    assert "Tarefas de treinamento recentes" in response.content.decode()


def test_the_datasets_page_groups_counts_and_writes_days_first(portuguese, big_dataset):
    response = _page(portuguese, reverse("registry:datasets"))
    assert english_left(response) == []
    body = response.content.decode()
    assert "<td>1.234</td>" in body  # rows
    assert DAY.search(body)  # uploaded, dd/mm/aaaa hh:mm


def test_the_dataset_page(portuguese, big_dataset):
    response = _page(portuguese, big_dataset.get_absolute_url())
    assert english_left(response, data=("vendas", "amount", "kind")) == []
    body = response.content.decode()
    assert "1.234 linhas" in body and "2 colunas" in body
    # amount runs 1000 to 1308.25; mean 1154.125: four digits, decimal comma.
    assert "1.000 \u2013 1.308 (média 1.154)" in body


def test_the_train_page_and_its_plan(portuguese, penguins_dataset):
    response = _page(portuguese, reverse("registry:train", args=[penguins_dataset.pk]))
    assert english_left(response) == []
    body = response.content.decode()
    assert "Coluna do rótulo" in body and "Classificação binária" in body
    plan = _page(
        portuguese,
        reverse("registry:plan", args=[penguins_dataset.pk]),
        label="species",
    )
    assert english_left(plan, data=(plan.context["plan"].reason,)) == []
    assert "linhas rotuladas" in plan.content.decode()


def test_a_refused_training_is_told_in_portuguese(portuguese, penguins_dataset):
    response = portuguese.post(
        reverse("registry:train", args=[penguins_dataset.pk]),
        {
            "model_name": "penguins",
            "label": "species",
            "problem_type": "regression",
            "preset": "medium_quality",
            "time_limit": "30",
            "seed": "0",
        },
    )
    assert response.status_code == 400
    assert "A regressão precisa de um rótulo numérico" in response.content.decode()


def test_the_job_pages(portuguese, penguins_dataset):
    job = jobs.submit(penguins_dataset, "penguins", TrainOptions(label="species"))
    response = _page(portuguese, job.get_absolute_url())
    assert english_left(response) == []
    assert "Posição na fila:" in response.content.decode()
    assert "Na fila" in response.content.decode()  # the status
    listing = _page(portuguese, reverse("registry:jobs"))
    assert english_left(listing) == []


def test_a_failed_job_keeps_its_error_as_written(portuguese, penguins_dataset):
    TrainingJob.objects.create(
        dataset=penguins_dataset,
        model_name="x",
        status=TrainingJob.Status.FAILED,
        error="Out of memory",
    )
    body = _page(portuguese, reverse("registry:jobs")).content.decode()
    assert "Out of memory" in body and "Falhou" in body


def test_the_model_and_version_pages(portuguese, tiny_classifier):
    model = _page(portuguese, tiny_classifier.model.get_absolute_url())
    assert english_left(model) == []
    version = _page(portuguese, tiny_classifier.get_absolute_url())
    lineage = tiny_classifier.lineage
    assert english_left(version, data=(lineage.inference_reason, "penguins")) == []
    body = version.content.decode()
    assert "Linhagem" in body and "Pronta" in body
    assert re.search(r"data-testid=\"eval-score\">0,\d+<", body)
    assert DAY.search(body)


def test_the_compare_page(portuguese, tiny_classifier):
    response = _page(
        portuguese, reverse("registry:compare", args=["penguins"]), a=1, b=1
    )
    assert english_left(response) == []
    body = response.content.decode()
    assert "Linhas (treino / teste)" in body and "Pontuação: accuracy" in body


def test_actions_are_answered_in_portuguese(portuguese, tiny_classifier):
    moved = portuguese.post(
        reverse("registry:alias", args=["penguins", 1]),
        {"alias": "staging"},
        follow=True,
    )
    assert "penguins v1 agora é staging." in moved.content.decode()
    refused = portuguese.post(
        reverse("registry:archive", args=["penguins", 1]), follow=True
    )
    body = refused.content.decode()
    assert "penguins v1 tem o alias production, staging; mova-o antes" in body
