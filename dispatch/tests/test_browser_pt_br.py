"""In a real Chromium, in Brazilian Portuguese (and English for comparison),
at laptop (1366x768) and phone (390x844) widths: the dispatch page's actions
are one group, every Disparo and Monitor page fits a phone, and a pt-BR
analyst uploads, trains, tries the Showroom and runs a dispatch.

Screenshots go to the test's tmp folder, and to $MLF_SCREENSHOTS when set."""

import subprocess
import sys

import pytest
from django.conf import settings

from dispatch import runner
from dispatch.models import Dispatch, RunStatus
from dispatch.tests.browser_pages import (
    LOCALES,
    WIDTHS,
    lang,
    logged_in,
    overflowing,
    shoot,
)
from mlframework.core import demo
from registry.models import TrainingJob

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(databases=["default", "events"], transaction=True),
]

# The group, its buttons and where each sits (computed by the browser).
ACTIONS = """() => {
  const group = document.querySelector("[data-testid=dispatch-actions]");
  const style = getComputedStyle(group);
  const box = group.getBoundingClientRect();
  return {
    display: style.display,
    wrap: style.flexWrap,
    width: box.width,
    buttons: [...group.querySelectorAll("button, [role=button]")].map((b) => {
      const r = b.getBoundingClientRect();
      return {text: b.innerText.trim(), width: r.width, top: Math.round(r.top),
              bottom: Math.round(r.bottom)};
    }),
    reason: group.querySelector("input[name=reason]").getBoundingClientRect().width,
  };
}"""


def same_row(one: dict, other: dict) -> bool:
    return one["top"] < other["bottom"] and other["top"] < one["bottom"]


@pytest.fixture
def scored_run(tiny_classifier, make_dispatch, source_table, tables, operator):
    dispatch = make_dispatch(
        name="pontuacao-diaria-dos-pinguins",
        model=tiny_classifier.model,
        source_query=f"SELECT * FROM {source_table('demo')}",
        sink_table=tables("demo", "sink"),
        key_columns=["id"],
        enabled=True,
    )
    run = runner.run_scheduled(dispatch.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


@pytest.mark.parametrize("language", LOCALES)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_dispatch_actions_are_one_group(
    browser, live_server, operator, scored_run, tmp_path, language, width
):
    page = logged_in(browser, live_server, "otto", language, width)
    try:
        page.goto(f"{live_server.url}/dispatches/{scored_run.dispatch_id}/")
        assert lang(page) == language
        found = page.evaluate(ACTIONS)
        assert found["display"] == "flex" and found["wrap"] == "wrap"
        texts = [b["text"] for b in found["buttons"]]
        words = {
            "en": ["Run now", "Edit", "Delete", "Enabled ✓ — disable"],
            "pt-br": ["Executar agora", "Editar", "Excluir", "Ativo ✓ — desativar"],
        }[language]
        assert texts == words
        # Buttons, not full-width bars: each keeps its own width.
        for button in found["buttons"]:
            assert button["width"] < 0.5 * found["width"], button
        run_now, edit, delete, switch = found["buttons"]
        assert same_row(run_now, edit) and same_row(edit, delete)
        assert (
            abs(run_now["bottom"] - run_now["top"] - (edit["bottom"] - edit["top"]))
            <= 2
        )
        if width == "laptop":
            assert same_row(switch, run_now)  # all on one row
            assert 100 < found["reason"] < 400
        else:  # the switch wraps below the buttons, never wider than the phone
            assert switch["top"] >= run_now["top"]
        assert overflowing(page) == []
        shoot(page, tmp_path, f"dispatch-actions-{language}-{width}")
    finally:
        page.context.close()


PAGES = [
    ("dispatches", "/dispatches/"),
    ("dispatch", "/dispatches/{dispatch}/"),
    ("dispatch-edit", "/dispatches/{dispatch}/edit/"),
    ("dispatch-new", "/dispatches/new/"),
    ("runs", "/dispatches/runs/"),
    ("run", "/dispatches/runs/{run}/"),
    ("monitor", "/monitor/"),
    ("drift", "/monitor/versions/{version}/drift/"),
    ("drift-check", "/monitor/versions/{version}/drift/check/"),
    ("performance", "/monitor/versions/{version}/performance/"),
    ("monitoring", "/monitor/models/{model}/"),
]
PORTUGUESE = {  # one text of each page, in pt-BR
    "dispatches": "Histórico de execuções",
    "dispatch": "Execuções recentes",
    "dispatch-edit": "Fonte de dados de origem",
    "dispatch-new": "Novo disparo",
    "runs": "Filtrar",
    "run": "Linhas gravadas",
    "monitor": "Hosts e bancos de dados",
    "drift": "Variáveis",
    "drift-check": "Verificar drift",
    "performance": "Desempenho realizado",
    "monitoring": "Desempenho realizado",
}


@pytest.mark.parametrize("language", LOCALES)
@pytest.mark.parametrize("width", WIDTHS)
def test_every_disparo_and_monitor_page_fits(
    browser, live_server, superuser, scored_run, tmp_path, language, width
):
    version = scored_run.model_version
    values = {
        "dispatch": scored_run.dispatch_id,
        "run": scored_run.pk,
        "version": version.pk,
        "model": version.model.name,
    }
    page = logged_in(browser, live_server, "root", language, width)
    problems = {}
    try:
        for name, path in PAGES:
            response = page.goto(live_server.url + path.format(**values))
            assert response.status == 200, name
            assert lang(page) == language, name
            if language == "pt-br":
                assert PORTUGUESE[name] in page.locator("main").inner_text(), name
            if width == "phone" and (wide := overflowing(page)):
                problems[name] = wide
            shoot(page, tmp_path, f"{name}-{language}-{width}")
    finally:
        page.context.close()
    assert problems == {}


@pytest.fixture
def worker(process_env):
    """The real task worker, for training and for Run now."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "db_worker",
            "--queue-name",
            "*",
            "--no-startup-delay",
            "--interval",
            "0.2",
        ],
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _fits_and_shoot(browser, live_server, url, tmp_path, name):
    """The same page at the other width: no overflow on a phone; screenshots."""
    for width in WIDTHS:
        page = logged_in(browser, live_server, "root", "pt-br", width)
        try:
            page.goto(url)
            if width == "phone":
                assert overflowing(page) == [], name
            shoot(page, tmp_path, f"walk-{name}-pt-br-{width}")
        finally:
            page.context.close()


def test_a_brazilian_analyst_walks_upload_train_showroom_and_a_dispatch(
    browser, live_server, superuser, worker, source_table, tables, tmp_path
):
    page = logged_in(browser, live_server, "root", "pt-br", "laptop")
    try:
        # Upload.
        page.goto(f"{live_server.url}/models/datasets/")
        assert lang(page) == "pt-br"
        assert "Conjuntos de dados" in page.locator("main").inner_text()
        assert "Modelos" in page.locator("header.site-header").inner_text()
        page.set_input_files("input[name=file]", str(demo.CSV))
        page.click("form:has(input[name=file]) button[type=submit]")
        page.wait_for_url("**/models/datasets/*/")
        dataset = page.url
        text = page.locator("main").inner_text()
        for words in ("Colunas", "Lida como", "Treinar um modelo com este conjunto"):
            assert words in text, words
        shoot(page, tmp_path, "walk-dataset-pt-br-laptop")

        # Train, tiny and fast.
        page.goto(dataset + "train/")
        assert lang(page) == "pt-br"
        page.fill("input[name=model_name]", "aves")
        page.select_option("select[name=label]", "species")
        page.fill("input[name=time_limit]", "8")
        page.get_by_role("button", name="Colocar o treinamento na fila").click()
        page.wait_for_selector("[data-testid=version-link]", timeout=150_000)
        assert "Situação:" in page.locator("main").inner_text()
        job = TrainingJob.objects.get()
        assert job.status == "succeeded", job.error
        shoot(page, tmp_path, "walk-training-pt-br-laptop")

        # The Showroom: one penguin typed in, its prediction shown.
        page.goto(f"{live_server.url}/showroom/aves/")
        assert lang(page) == "pt-br"
        form = page.locator("#case-form")
        for name, value in {
            "island": "Biscoe",
            "bill_length_mm": "47,5",  # a decimal comma, as pt-BR writes it
            "bill_depth_mm": "14,2",
            "flipper_length_mm": "217",
            "body_mass_g": "4900",
            "sex": "female",
            "year": "2008",
        }.items():
            field = form.locator(f"[name={name}]")
            if field.evaluate("(e) => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        page.click("[data-testid=predict-form]")
        prediction = page.locator("#result [data-testid=prediction]")
        prediction.wait_for(timeout=30_000)
        assert prediction.inner_text().strip() == "Gentoo"
        shoot(page, tmp_path, "walk-showroom-pt-br-laptop")

        # A dispatch: created, Run now, its run seen to the end.
        page.goto(f"{live_server.url}/dispatches/new/")
        main = page.locator("main")
        for label in ("Novo disparo", "Fonte de dados de origem", "Expressão cron"):
            assert label in main.inner_text(), label
        page.fill("input[name=name]", "pinguins-noturno")
        page.select_option("select[name=model]", label="aves")
        page.fill("input[name=version_ref]", "1")
        page.select_option("select[name=source_datasource]", "demo")
        page.fill(
            "textarea[name=source_query]", f"SELECT * FROM {source_table('demo')}"
        )
        page.select_option("select[name=sink_datasource]", "demo")
        page.fill("input[name=sink_table]", tables("demo", "sink"))
        page.fill("input[name=key_columns]", "id")
        page.fill("input[name=cron]", "30 6 * * 1-5")
        page.fill("input[name=timezone]", "America/Sao_Paulo")
        page.locator("input[name=timezone]").dispatch_event("change")
        preview = page.locator("#schedule-preview")
        preview.get_by_text("de segunda-feira a sexta-feira").wait_for(timeout=10_000)
        assert "Próximas execuções" in preview.inner_text()
        page.uncheck("input[name=enabled]")  # no crontab line: Run now only
        page.click("form[method=post]:has(input[name=cron]) button[type=submit]")
        page.wait_for_url("**/dispatches/*/")
        assert "Disparo pinguins-noturno salvo." in main.inner_text()
        dispatch = Dispatch.objects.get(name="pinguins-noturno")
        page.get_by_role("button", name="Executar agora").click()
        page.wait_for_url("**/dispatches/runs/*/")
        # The progress part polls; when the run ends the page reloads itself.
        page.get_by_text("Baixar todas as 344 linhas em CSV").wait_for(timeout=120_000)
        text = main.inner_text()
        assert "Situação: Concluída" in text
        assert "344 linhas lidas, 344 gravadas" in text
        assert "Drift do conjunto de dados:" in text
        run = dispatch.runs.get()
        assert run.status == RunStatus.SUCCEEDED, run.error
        shoot(page, tmp_path, "walk-run-pt-br-laptop")
    finally:
        page.context.close()
    for name, url in {
        "dataset": dataset,
        "showroom": f"{live_server.url}/showroom/aves/",
        "dispatch": f"{live_server.url}/dispatches/{dispatch.pk}/",
        "run": f"{live_server.url}/dispatches/runs/{run.pk}/",
    }.items():
        _fits_and_shoot(browser, live_server, url, tmp_path, name)
    assert worker.poll() is None
