"""The retraining pages: policies and run history per model, the policy form,
enable, delete, retrain now, cancel; roles, CSRF, bad input; the run on the
version page."""

import pytest
from django.test import Client
from django.urls import reverse

from registry import retrain_cron
from registry.models import RetrainPolicy, RetrainRun

pytestmark = pytest.mark.django_db(databases=["default", "events"])
Trigger = RetrainPolicy.Trigger


@pytest.fixture
def policy(tiny_classifier):
    made = RetrainPolicy.objects.create(
        model=tiny_classifier.model, name="nightly", trigger=Trigger.MANUAL
    )
    yield made
    retrain_cron.remove(made.pk)


@pytest.fixture
def cleanup_lines():
    yield
    for pk in RetrainPolicy.objects.values_list("pk", flat=True):
        retrain_cron.remove(pk)


def url(name, *args):
    return reverse(f"registry:{name}", args=args)


def form(**changes):
    values = {
        "name": "daily",
        "enabled": "on",
        "trigger": "schedule",
        "cron": "0 3 * * *",
        "timezone": "UTC",
        "data": "query",
        "min_interval_minutes": "60",
        "action": "challenger",
        "min_improvement": "0",
        "max_fairness_gap_increase": "",
        "alias": "production",
        "preset": "",
        "time_limit": "",
        "eval_metric": "",
        "excluded": "",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def test_viewers_read_the_policies_and_runs(viewer_client, policy):
    RetrainRun.objects.create(
        policy=policy,
        model=policy.model,
        trigger=Trigger.MANUAL,
        scheduled_for=policy.created,
        state=RetrainRun.State.SKIPPED,
        reason="the policy is disabled",
    )
    response = viewer_client.get(url("policies", "penguins"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "nightly" in body and "the policy is disabled" in body
    assert "Retrain now" not in body  # viewers see no actions
    assert url("policy_new", "penguins") not in body


def test_the_model_page_links_to_retraining(viewer_client, tiny_classifier):
    body = viewer_client.get(url("model", "penguins")).content.decode()
    assert url("policies", "penguins") in body


def test_analysts_see_the_actions(analyst_client, policy):
    body = analyst_client.get(url("policies", "penguins")).content.decode()
    assert "Retrain now" in body and url("policy_run", "penguins", policy.pk) in body


def test_the_pages_need_a_login(client, policy):
    for target in (url("policies", "penguins"), url("policy_new", "penguins")):
        response = client.get(target)
        assert response.status_code == 302 and "login" in response.url


def test_an_analyst_creates_a_schedule_policy_with_its_cron_line(
    analyst_client, analyst, tiny_classifier, cleanup_lines
):
    response = analyst_client.post(
        url("policy_new", "penguins"),
        form(preset="medium_quality", time_limit="40", excluded="id, year"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    made = RetrainPolicy.objects.get()
    assert made.created_by == analyst and made.model == tiny_classifier.model
    assert made.overrides == {
        "preset": "medium_quality",
        "time_limit": 40,
        "excluded": ["id", "year"],
    }
    assert made.pk in retrain_cron.managed_entries()


def test_editing_keeps_the_overrides_and_moves_the_line(
    analyst_client, tiny_classifier, cleanup_lines
):
    analyst_client.post(url("policy_new", "penguins"), form(time_limit="40"))
    made = RetrainPolicy.objects.get()
    page = analyst_client.get(url("policy_edit", "penguins", made.pk))
    assert 'value="40"' in page.content.decode()
    response = analyst_client.post(
        url("policy_edit", "penguins", made.pk), form(cron="30 4 * * *")
    )
    assert response.status_code == 302
    assert retrain_cron.managed_entries()[made.pk].startswith("30 4 * * * ")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cron": "61 * * * *"}, "not a valid cron expression"),
        ({"cron": ""}, "needs 5 fields"),
        ({"cron": "0 0 31 2 *"}, "February has no 31st"),
        ({"timezone": "Mars/Base"}, "not a known IANA timezone"),
        ({"name": "Bad Name"}, "lower-case"),
        ({"time_limit": "0"}, "greater than or equal to 1"),
        ({"trigger": "weekly"}, "not one of the available choices"),
    ],
)
def test_bad_input_is_refused_clearly_and_saves_nothing(
    analyst_client, tiny_classifier, changes, message
):
    response = analyst_client.post(url("policy_new", "penguins"), form(**changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not RetrainPolicy.objects.exists()
    assert not retrain_cron.managed_entries()


def test_a_duplicate_name_is_refused(analyst_client, policy):
    response = analyst_client.post(
        url("policy_new", "penguins"), form(name="nightly", trigger="manual")
    )
    assert response.status_code == 400
    assert "already has a policy nightly" in response.content.decode()
    assert RetrainPolicy.objects.count() == 1


def test_viewers_and_operators_cannot_change_policies(
    viewer_client, operator_client, policy
):
    for client in (viewer_client, operator_client):
        assert client.get(url("policy_new", "penguins")).status_code == 403
        assert client.post(url("policy_new", "penguins"), form()).status_code == 403
        for name in ("policy_run", "policy_enable", "policy_delete"):
            assert client.post(url(name, "penguins", policy.pk)).status_code == 403
    assert RetrainPolicy.objects.get().enabled and not RetrainRun.objects.exists()


def test_retrain_now_queues_a_run_in_the_task_queue(
    analyst_client, analyst, policy, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(url("policy_run", "penguins", policy.pk))
    assert response.status_code == 302
    run = RetrainRun.objects.get()
    assert run.state == RetrainRun.State.QUEUED and run.created_by == analyst
    assert run.trigger == Trigger.MANUAL
    task = DBTaskResult.objects.get()
    assert task.task_path == "registry.retraining.run_retrain"
    assert task.args_kwargs["args"] == [run.pk]


def test_retrain_now_twice_says_why_the_second_is_skipped(analyst_client, policy):
    analyst_client.post(url("policy_run", "penguins", policy.pk))
    response = analyst_client.post(
        url("policy_run", "penguins", policy.pk), follow=True
    )
    assert "already being retrained" in response.content.decode()
    assert RetrainRun.objects.filter(state=RetrainRun.State.QUEUED).count() == 1


def test_cancel_a_queued_run(analyst_client, policy):
    analyst_client.post(url("policy_run", "penguins", policy.pk))
    run = RetrainRun.objects.get()
    response = analyst_client.post(url("run_cancel", "penguins", run.pk), follow=True)
    run.refresh_from_db()
    assert run.state == RetrainRun.State.CANCELLED and run.active_model is None
    assert "cancelled" in response.content.decode()


def test_enable_toggles_and_delete_removes_the_line(analyst_client, tiny_classifier):
    made = RetrainPolicy.objects.create(
        model=tiny_classifier.model, name="daily", trigger="schedule", cron="0 3 * * *"
    )
    retrain_cron.apply(made)
    analyst_client.post(url("policy_enable", "penguins", made.pk))
    made.refresh_from_db()
    assert not made.enabled and made.pk not in retrain_cron.managed_entries()
    analyst_client.post(url("policy_enable", "penguins", made.pk))
    assert made.pk in retrain_cron.managed_entries()
    analyst_client.post(url("policy_delete", "penguins", made.pk))
    assert not RetrainPolicy.objects.exists()
    assert made.pk not in retrain_cron.managed_entries()


def test_the_actions_are_post_only(analyst_client, policy):
    for name in ("policy_run", "policy_enable", "policy_delete"):
        assert analyst_client.get(url(name, "penguins", policy.pk)).status_code == 405


def test_posts_need_the_csrf_token(analyst, policy):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(analyst)
    assert strict.post(url("policy_run", "penguins", policy.pk)).status_code == 403
    assert strict.post(url("policy_new", "penguins"), form()).status_code == 403
    assert not RetrainRun.objects.exists() and RetrainPolicy.objects.count() == 1


def test_unknown_models_and_policies_are_404(analyst_client, policy):
    assert analyst_client.get(url("policies", "nothing")).status_code == 404
    assert analyst_client.get(url("policy_edit", "penguins", 999)).status_code == 404


def test_the_version_page_shows_the_run_that_made_it(viewer_client, policy):
    version = policy.model.version_for("production")
    run = RetrainRun.objects.create(
        policy=policy,
        model=policy.model,
        trigger=Trigger.DRIFT,
        scheduled_for=policy.created,
        state=RetrainRun.State.DONE,
        version=version,
        champion=version,
        challenge_id=7,
        outcome="pending",
    )
    body = viewer_client.get(version.get_absolute_url()).content.decode()
    assert f"Made by retrain run {run.pk} of policy nightly" in body
    link = reverse("registry:challenge", args=["penguins", 7])
    assert f'<a href="{link}">challenge 7</a>: pending' in body
