"""Every Disparo page in Brazilian Portuguese: none of its templates' English
texts left (compared with the same page in English), its Python words
(labels, choices, messages, schedule descriptions) in Portuguese too."""

import pytest
from django.urls import reverse
from django.utils import timezone

from dispatch import runner
from dispatch.models import RunStatus
from mlframework.events.models import Event
from mlframework.tests.translated import compare, fragments, visible_text

pytestmark = pytest.mark.django_db(databases=["default", "events"])

PT = {"HTTP_ACCEPT_LANGUAGE": "pt-BR"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def scored_run(tiny_classifier, make_dispatch, source_table, tables):
    dispatch = make_dispatch(
        name="pontuacao-diaria",
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        cron="30 6 * * 1-5",
        retries=2,
        enabled=True,
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


@pytest.fixture
def paused(make_dispatch, operator):
    return make_dispatch(
        name="pausado",
        enabled=False,
        paused_by=operator,
        paused_at=timezone.now(),
        pause_reason="carga do armazém",
    )


def both(client, url):
    english, portuguese = client.get(url, **EN), client.get(url, **PT)
    assert english.status_code == portuguese.status_code == 200
    return english.content.decode(), portuguese.content.decode()


def assert_translated(client, url, *templates, stored=()):
    english, portuguese = both(client, url)
    found = compare(english, portuguese, *templates, stored=stored)
    assert found.shown, f"the English page shows none of {templates}' texts"
    assert found.left == [], f"English left on {url}: {found.left}"
    return portuguese


def test_the_catalogue_knows_each_dispatch_template():
    for name in ("index", "detail", "form", "run", "runs", "_switch", "_runs_rows"):
        assert fragments(f"dispatch/{name}.html"), name


def test_the_list_is_in_portuguese(admin_client_, scored_run, paused):
    page = assert_translated(
        admin_client_,
        reverse("dispatch:index"),
        "dispatch/index.html",
        "dispatch/_switch.html",
    )
    text = visible_text(page)
    assert "Disparos" in text and "Novo disparo" in text
    assert "Concluída" in text  # the last run's status, a model choice
    assert "Pausar todos" in text and "Retomar todos os pausados" in text
    assert "pausado por otto" in text and "carga do armazém" in text
    assert '<html lang="pt-br"' in page


def test_the_dispatch_page_is_in_portuguese(operator_client, scored_run):
    url = reverse("dispatch:detail", args=[scored_run.dispatch_id])
    page = assert_translated(
        operator_client,
        url,
        "dispatch/detail.html",
        "dispatch/_switch.html",
        "dispatch/_runs_rows.html",
    )
    text = visible_text(page)
    for words in (
        "Executar agora",
        "Editar",
        "Excluir",
        "Por que pausar?",
        "Ativo ✓ — desativar",
        "(acrescentar as predições)",  # the sink mode, a model choice
        "2 novas tentativas",
        "Às 06:30, de segunda-feira a sexta-feira (UTC)",  # the cron in words
        "Linha do crontab:",
        "Execuções recentes",
        "Agendada",  # the run trigger's column
    ):
        assert words in text, words
    assert 'data-label-seconds="segundos"' in page  # the chart's words


def test_the_form_is_in_portuguese(operator_client, scored_run):
    page = assert_translated(
        operator_client,
        reverse("dispatch:edit", args=[scored_run.dispatch_id]),
        "dispatch/form.html",
    )
    text = visible_text(page)
    for label in (
        "Fonte de dados de origem",
        "Consulta de origem",
        "Colunas-chave",
        "Modo de gravação",
        "Expressão cron",
        "Fuso horário",
        "Tolerância (minutos)",
        "Criar a tabela de destino quando ela não existir.",
    ):
        assert label in text, label
    new = visible_text(operator_client.get(reverse("dispatch:create"), **PT).content)
    assert "Novo disparo" in new and "Salvar" in new


def test_form_errors_are_in_portuguese(operator_client, registered_model):
    response = operator_client.post(
        reverse("dispatch:create"),
        {
            "name": "ruim",
            "model": registered_model.pk,
            "version_ref": "production",
            "source_datasource": "demo",
            "source_query": "SELECT 1",
            "sink_datasource": "demo",
            "sink_table": "s",
            "sink_mode": "append",
            "key_columns": "id, id",
            "cron": "0 5-2 * * *",
            "timezone": "Marte/Olimpo",
            "run_key_format": "%Y",
            "retries": 0,
            "retry_backoff_seconds": 60,
            "chunk_size": 0,
            "grace_minutes": 10,
        },
        **PT,
    )
    assert response.status_code == 400
    text = visible_text(response.content.decode())
    assert "cita uma coluna duas vezes" in text
    assert "o intervalo de hora 5-2 está invertido" in text
    assert "'Marte/Olimpo' não é um fuso horário IANA conhecido" in text
    assert "deve ficar entre 1 e 1.000.000 de linhas" in text


def test_the_schedule_preview_is_in_portuguese(operator_client):
    url = reverse("dispatch:schedule_preview") + "?cron=0+8+*+1,7+*&timezone=UTC"
    english, portuguese = both(operator_client, url)
    found = compare(english, portuguese, "dispatch/_schedule_preview.html")
    assert found.shown == ["Next runs"] and found.left == []
    assert "Às 08:00, somente em janeiro e julho (UTC)" in visible_text(portuguese)
    bad = operator_client.get(
        reverse("dispatch:schedule_preview") + "?cron=0+0+31+2+*", **PT
    )
    assert "0 0 31 2 * nunca dispara: fevereiro não tem dia 31" in visible_text(
        bad.content.decode()
    )


def test_the_run_history_is_in_portuguese(viewer_client, scored_run):
    page = assert_translated(
        viewer_client,
        reverse("dispatch:runs"),
        "dispatch/runs.html",
        "dispatch/_runs_table.html",
        "dispatch/_runs_rows.html",
    )
    text = visible_text(page)
    assert "Histórico de execuções" in text and "Filtrar" in text
    assert "qualquer disparo" in text and "qualquer situação" in text
    assert "Cron" in text and "Concluída" in text


def test_the_run_page_is_in_portuguese(viewer_client, scored_run):
    # Event messages are shown as they were written.
    events = Event.objects.using("events").filter(dispatch_run_id=scored_run.pk)
    assert events.exists()
    page = assert_translated(
        viewer_client,
        reverse("dispatch:run", args=[scored_run.pk]),
        "dispatch/run.html",
        "dispatch/_run_progress.html",
        "monitor/_run_drift.html",
        "monitor/_drift_features.html",
        "monitor/_drift_feature_row.html",
        stored=[event.message for event in events],
    )
    text = visible_text(page)
    for words in (
        f"Execução nº {scored_run.pk} de pontuacao-diaria",
        "Situação: Concluída",
        "344 linhas lidas, 344 gravadas",
        "Baixar todas as 344 linhas em CSV",
        "Drift do conjunto de dados:",
        "Variável",
        "numérica",
    ):
        assert words in text, words


def test_messages_after_actions_are_in_portuguese(operator_client, scored_run):
    response = operator_client.post(
        reverse("dispatch:run_now", args=[scored_run.dispatch_id]), follow=True, **PT
    )
    assert "na fila." in visible_text(response.content.decode())
    response = operator_client.post(
        reverse("dispatch:switch", args=[scored_run.dispatch_id]),
        {"enabled": "", "reason": "x" * 501},
        HTTP_HX_REQUEST="true",
        **PT,
    )
    assert response.status_code == 400
    assert "O motivo é longo demais." in response.content.decode()
