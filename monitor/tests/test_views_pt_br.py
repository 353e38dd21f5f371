"""Every Monitor page in Brazilian Portuguese: none of its templates' English
texts left (compared with the same page in English), and its Python words
(probe states, schedule states, drift verdicts, form labels) in Portuguese."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from mlframework.tests.translated import compare, fragments, visible_text
from monitor.models import AlertState, AlertStatus, Rule
from monitor.tests.drift_runs import shifted, stored_run

pytestmark = pytest.mark.django_db(databases=["default", "events"])

PT = {"HTTP_ACCEPT_LANGUAGE": "pt-BR"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def assert_translated(english, portuguese, *templates):
    found = compare(english, portuguese, *templates)
    assert found.shown, f"the English page shows none of {templates}' texts"
    assert found.left == [], f"English left: {found.left}"
    return visible_text(portuguese)


def get_both(client, url, *templates):
    english, portuguese = client.get(url, **EN), client.get(url, **PT)
    assert english.status_code == portuguese.status_code
    return assert_translated(
        english.content.decode(), portuguese.content.decode(), *templates
    )


@pytest.fixture
def world(tiny_classifier, make_dispatch, penguins_frame, superuser):
    """An enabled dispatch whose crontab line is missing, with a drifting run;
    a paused one with a reason; an open alert."""
    late = make_dispatch(name="noturno", model=tiny_classifier.model, enabled=True)
    stored_run(late, tiny_classifier, shifted(penguins_frame))
    make_dispatch(
        name="pausado",
        model=tiny_classifier.model,
        paused_by=superuser,
        paused_at=timezone.now(),
        pause_reason="manutenção",
    )
    AlertState.objects.create(
        key=f"dispatch:{late.pk}:late",
        rule=Rule.LATE_RUN,
        subject="disparo noturno",
        status=AlertStatus.FIRING,
        failing_since=timezone.now(),
        fired_at=timezone.now(),
        detail="atrasado",
        delivery_error="mail: recusado",
    )
    return late


def test_the_catalogue_knows_each_monitor_template():
    for name in ("index", "_checks", "_schedules", "_alerts", "_disk", "drift"):
        assert fragments(f"monitor/{name}.html"), name


def test_the_monitor_page_is_in_portuguese(admin_client_, world):
    text = get_both(
        admin_client_,
        reverse("monitor:index"),
        "monitor/index.html",
        "monitor/_checks.html",
        "monitor/_schedules.html",
        "monitor/_alerts.html",
        "monitor/_disk.html",
    )
    for words in (
        "Hosts e bancos de dados",
        "banco de dados default",  # a probe's kind and the disk part
        "no ar",  # a probe's status
        "Workers de tarefas",
        "Agendamentos",
        "1 disparo sinalizado:",
        "crontab: linha ausente: o cron não vai executá-lo",
        "O crontab não confere com o banco de dados:",
        "Sincronizar o crontab",
        "por root",
        "“manutenção”",
        "drift",  # the verdict links to the run
        "Alertas",
        "Execução atrasada ou perdida",  # the rule, a model choice
        "Alerta enviado",
        "falha na entrega: mail: recusado",
        "Disco",
        "sistema de arquivos",
        "modelos",
    ):
        assert words in text, words


def test_the_partials_are_in_portuguese(viewer_client, world):
    for name in ("checks", "schedules", "alerts"):
        english = viewer_client.get(reverse(f"monitor:{name}"), **EN)
        portuguese = viewer_client.get(reverse(f"monitor:{name}"), **PT)
        assert_translated(
            english.content.decode(),
            portuguese.content.decode(),
            f"monitor/_{name}.html",
        )


def test_actions_answer_in_portuguese(operator_client, world):
    response = operator_client.post(
        reverse("monitor:disable", args=[world.pk]),
        {"reason": "duas\nlinhas"},
        HTTP_HX_REQUEST="true",
        **PT,
    )
    assert response.status_code == 400
    assert "Nada foi alterado: o motivo deve ser uma única linha de texto" in (
        visible_text(response.content.decode())
    )


def test_the_drift_page_is_in_portuguese(viewer_client, tiny_classifier, world):
    text = get_both(
        viewer_client,
        reverse("monitor:drift", args=[tiny_classifier.pk]),
        "monitor/drift.html",
        "monitor/_drift_features.html",
        "monitor/_drift_feature_row.html",
    )
    for words in (
        "Variáveis \u00d7 execuções",  # the multiplication sign
        "Últimas execuções",  # a form label
        "Fração de drift do conjunto de dados ao longo do tempo",
        "categórica",
        "com drift",
    ):
        assert words in text, words


def test_a_drift_page_error_is_in_portuguese(viewer_client, tiny_classifier, world):
    response = viewer_client.get(
        reverse("monitor:drift", args=[tiny_classifier.pk]), {"feature": "bico"}, **PT
    )
    assert response.status_code == 400
    assert "não tem variável chamada bico" in visible_text(response.content.decode())


def test_the_drift_check_is_in_portuguese(
    analyst_client, tiny_classifier, penguins_frame
):
    url = reverse("monitor:drift_check", args=[tiny_classifier.pk])
    rows = penguins_frame.drop(columns=["species"]).to_csv(index=False).encode()

    def post(language):
        upload = SimpleUploadedFile("linhas.csv", rows, "text/csv")
        return analyst_client.post(url, {"file": upload}, **language)

    english, portuguese = post(EN), post(PT)
    assert english.status_code == portuguese.status_code == 200
    text = assert_translated(
        english.content.decode(),
        portuguese.content.decode(),
        "monitor/drift_check.html",
        "monitor/_drift_report.html",
        "monitor/_drift_features.html",
    )
    for words in (
        "Arquivo",
        "Fonte de dados",
        "Consulta",
        "Drift do arquivo linhas.csv",
    ):
        assert words in text, words
    assert "Variáveis com drift" in text
    refused = analyst_client.post(url, {}, **PT)
    assert "Envie um arquivo, ou escolha uma fonte de dados" in visible_text(
        refused.content.decode()
    )


def test_the_performance_page_is_in_portuguese(viewer_client, tiny_classifier):
    text = get_both(
        viewer_client,
        reverse("monitor:performance", args=[tiny_classifier.pk]),
        "monitor/performance.html",
    )
    assert "Desempenho realizado de" in text
    assert "Nenhuma consulta de valores reais definida" in text


def test_the_settings_page_is_in_portuguese(analyst_client, tiny_classifier):
    url = reverse("monitor:settings", args=[tiny_classifier.model.name])
    text = get_both(analyst_client, url, "monitor/settings.html")
    for words in (
        "Monitoramento de",
        "Medir drift",
        "Método para numéricas",
        "Automático (como o Evidently)",
        "Variáveis importantes",
        "Desempenho realizado",
        "Salvar",
    ):
        assert words in text, words
    response = analyst_client.post(url, {"overrides": "bico"}, **PT)
    assert response.status_code == 400
    assert "linha 1: escreva variável = método" in visible_text(
        response.content.decode()
    )
