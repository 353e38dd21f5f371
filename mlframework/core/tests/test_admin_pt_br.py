"""The admin in pt-BR: our models' own labels translated, on every admin page."""

from __future__ import annotations

import html
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.text import capfirst

from dispatch.models import Dispatch, DispatchRun
from mlframework.events.log import log_event
from monitor.models import AlertState, ModelMonitoring, RunDrift
from registry.models import (
    AliasChange,
    Challenge,
    Dataset,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    ShadowRun,
    TrainingJob,
)

pytestmark = [
    pytest.mark.django_db(databases=["default", "events"]),
    pytest.mark.usefixtures("pt_br_catalogue"),
]

OUR_APPS = (
    "registry",
    "dispatch",
    "monitor",
    "showroom",
    "mlframework.core",
    "mlframework.events",
    "mlframework.processes",
    "mlframework.usage",
)

# Labels written the same in Brazilian Portuguese: names, codes and loanwords.
SAME_IN_BOTH = {
    "ID",
    "PID",
    "CSV",
    "Parquet",
    "Excel",
    "SHA-256",
    "alias",
    "classes",
    "executor",
    "host",
    "log",
    "endpoint",
    "Monitor",
}


# Libraries' models: their labels come from their own catalogues (axes' pt_BR
# lacks a few, django-tasks has none), so on their pages only ours must not be
# English; Django's own (auth) are held to all of it.
THIRD_PARTY = {"axes", "authtoken", "django_tasks_database"}


def _same(label: str) -> bool:
    return label.casefold() in {same.casefold() for same in SAME_IN_BOTH}


def _our_models():
    for name in OUR_APPS:
        yield from apps.get_app_config(name.rsplit(".", 1)[-1]).get_models()


def _labelled_fields():
    for model in _our_models():
        for field in model._meta.concrete_fields:
            if not field.auto_created:  # Django's own "ID" of an implicit key
                yield model, field


def _texts(page: str) -> set[str]:
    """What the admin shows as labels: column headers, filter titles, form labels."""
    found = []
    for head in re.findall(r"<thead>(.*?)</thead>", page, re.S):
        found += re.findall(r"<th\b[^>]*>(.*?)</th>", head, re.S)
    found += re.findall(r"<caption>(.*?)</caption>", page, re.S)  # the index's apps
    found += re.findall(r'data-filter-title="([^"]*)"', page)
    found += re.findall(r"<label\b[^>]*>(.*?)</label>", page, re.S)
    texts = {html.unescape(re.sub(r"<[^>]+>", " ", text)) for text in found}
    return {" ".join(text.split()).rstrip(":").strip() for text in texts} - {""}


def _english_labels() -> set[str]:
    with translation.override("en"):
        return {capfirst(str(field.verbose_name)) for _, field in _labelled_fields()}


@pytest.fixture
def world(superuser):
    """One row of each of our registered models, made the cheapest way."""
    model = RegisteredModel.objects.create(name="penguins")
    dataset = Dataset.objects.create(sha256="a" * 64, name="penguins.csv", format="csv")
    version = ModelVersion.objects.create(
        model=model,
        number=1,
        label="species",
        problem_type="multiclass",
        eval_metric="accuracy",
        dataset=dataset,
    )
    ModelAlias.objects.create(model=model, name="production", version=version)
    TrainingJob.objects.create(dataset=dataset, model_name="penguins")
    challenge = Challenge.objects.create(
        model=model, alias="production", challenger=version, state="pending"
    )
    AliasChange.objects.create(
        model=model, alias="production", to_version=version, kind="trained"
    )
    ShadowRun.objects.create(challenge=challenge, dispatch_run_id=1)
    dispatch = Dispatch.objects.create(
        name="nightly",
        model=model,
        source_datasource="demo",
        source_query="SELECT 1",
        sink_datasource="demo",
        sink_table="out",
        cron="0 3 * * *",
    )
    run = DispatchRun.objects.create(dispatch=dispatch)
    AlertState.objects.create(key="host:web", rule="host_down", subject="web")
    ModelMonitoring.objects.create(model=model)
    RunDrift.objects.create(run=run, version=version, dispatch_id=dispatch.pk)
    log_event("core", "test.admin", "an event", user=superuser)


def _admin_pages(superuser) -> list[tuple[str, str]]:
    """Every registered model's change list, its add page where adding is
    allowed, and the change page of its first row where it has one, each
    with its model's app label."""
    request = RequestFactory().get("/admin/")
    request.user = superuser
    pages = [(reverse("admin:index"), "admin")]
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        urls = [reverse("admin:{}_{}_changelist".format(*info))]
        if model_admin.has_add_permission(request):
            urls.append(reverse("admin:{}_{}_add".format(*info)))
        row = model._default_manager.first()
        if row is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
        pages += [(url, model._meta.app_label) for url in urls]
    return pages


def _get(client, url: str, language: str) -> str:
    response = client.get(url, headers={"accept-language": language})
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return response.content.decode()


def test_every_field_of_our_models_has_a_translated_verbose_name():
    untranslatable, untranslated = [], []
    for model, field in _labelled_fields():
        where = f"{model._meta.label}.{field.name}"
        if not isinstance(field.verbose_name, Promise):
            untranslatable.append(where)
            continue
        with translation.override("en"):
            english = str(field.verbose_name)
        with translation.override("pt-br"):
            portuguese = str(field.verbose_name)
        if portuguese == english and not _same(english):
            untranslated.append(f"{where}: {english!r}")
    assert untranslatable == []
    assert untranslated == []


def test_our_models_have_translated_names():
    for model in _our_models():
        if not model._meta.managed:
            continue  # Platform: only holds permissions, no table, no admin page
        for name in (model._meta.verbose_name, model._meta.verbose_name_plural):
            assert isinstance(name, Promise), model._meta.label
            with translation.override("en"):
                english = str(name)
            with translation.override("pt-br"):
                assert str(name) != english, model._meta.label


def test_our_apps_have_translated_names():
    for name in OUR_APPS:
        config = apps.get_app_config(name.rsplit(".", 1)[-1])
        assert isinstance(config.verbose_name, Promise), name


def test_the_choices_of_our_models_are_translated():
    untranslated = []
    for model, field in _labelled_fields():
        if model._meta.label == "core.Profile" and field.name == "language":
            continue  # each language named in itself: "Português (Brasil)"
        for value, label in field.flatchoices:
            if not isinstance(label, Promise):
                untranslated.append(f"{model._meta.label}.{field.name}={value}")
    assert untranslated == []


def test_no_english_label_is_left_on_any_admin_page(admin_client_, superuser, world):
    ours = _english_labels()
    # Their app names, in the menu of every page.
    theirs = {str(apps.get_app_config(label).verbose_name) for label in THIRD_PARTY}
    left = {}
    for url, app in _admin_pages(superuser):
        in_english = _texts(_get(admin_client_, url, "en"))
        in_portuguese = _texts(_get(admin_client_, url, "pt-br"))
        english = ours if app in THIRD_PARTY else in_english | ours
        same = {t for t in in_portuguese & english - theirs if not _same(t)}
        if same:
            left[url] = sorted(same)
    assert left == {}


def test_the_check_sees_english_labels(admin_client_, world):
    page = _get(admin_client_, reverse("admin:registry_dataset_changelist"), "en")
    assert {"Name", "Format", "Rows", "Size (bytes)", "Created"} <= _texts(page)
    assert "By format" not in _texts(page)  # the filter's title only: "format"
    page = _get(admin_client_, reverse("admin:registry_dataset_changelist"), "pt-br")
    assert {"Nome", "Formato", "Linhas", "Tamanho (bytes)", "Criado"} <= _texts(page)


def test_an_error_naming_a_field_names_it_in_portuguese():
    RegisteredModel.objects.create(name="penguins")
    with translation.override("pt-br"):
        with pytest.raises(ValidationError) as refused:
            RegisteredModel(name="penguins").validate_unique()
        message = " ".join(refused.value.messages)
    assert "Modelo com este Nome já existe." in message, message
