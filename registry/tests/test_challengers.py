"""registry/challengers.py: compare on the same rows, propose, approve,
reject, rollback; real AutoGluon versions of the demo penguins."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from django.contrib.auth.models import Group
from sklearn import metrics as skm

from mlframework.events.models import Event
from registry import autogluon, challengers, services, training
from registry.challengers import ChallengeError, NotAllowed, PromotionRule
from registry.models import AliasChange, Challenge, ModelAlias
from registry.tests import challenger_world as world
from registry.training import TrainOptions

pytestmark = pytest.mark.django_db(databases=["default", "events"])


@pytest.fixture
def dataset(db):
    return world.penguins_dataset()


@pytest.fixture
def weak(dataset, penguins_frame):
    """penguins v1, production: island and sex only."""
    return world.train_weak(penguins_frame, dataset)


@pytest.fixture
def strong(weak, dataset, penguins_frame):
    """penguins v2, no alias: every measurement."""
    return world.train_strong(penguins_frame, dataset)


@pytest.fixture
def approver(db, django_user_model):
    user = django_user_model.objects.create_user(username="apollo", password="x")
    user.groups.add(Group.objects.get(name="approver"))
    return user


def production(model) -> int:
    return ModelAlias.objects.get(model=model, name="production").version.number


def kinds(version) -> list[str]:
    return list(
        Event.objects.using("events")
        .filter(model_version_id=version.pk, kind__startswith="challenge.")
        .order_by("created", "id")
        .values_list("kind", flat=True)
    )


# --- compare -------------------------------------------------------------------


@pytest.mark.slow
def test_both_are_scored_on_the_challengers_held_out_rows(weak, strong):
    comparison = challengers.compare(weak, strong)
    rows = training.holdout_rows(strong)
    truth = rows["species"].to_numpy()
    old = services.predict(weak, rows)["prediction"].to_numpy()
    new = services.predict(strong, rows)["prediction"].to_numpy()
    assert comparison.rows == len(rows) == strong.lineage.test_rows
    assert comparison.metric == "accuracy" and comparison.greater_is_better
    assert comparison.champion_score == pytest.approx(np.mean(old == truth), abs=1e-12)
    assert comparison.challenger_score == pytest.approx(
        np.mean(new == truth), abs=1e-12
    )
    assert comparison.difference == pytest.approx(
        comparison.challenger_score - comparison.champion_score
    )
    assert comparison.improvement > 0.1  # every measurement beats island and sex
    assert "held-out rows of penguins v2" in comparison.source


def test_the_champion_is_re_scored_not_quoted(weak, strong, penguins_frame):
    rows = penguins_frame.iloc[:120]
    comparison = challengers.compare(weak, strong, rows)
    truth = rows["species"].to_numpy()
    predicted = services.predict(weak, rows)["prediction"].to_numpy()
    assert comparison.rows == 120
    assert comparison.champion_score == pytest.approx(np.mean(predicted == truth))
    # Its stored score was measured on its own held-out rows: not these.
    assert comparison.champion_score != pytest.approx(weak.eval_score, abs=1e-6)


def test_the_accuracy_standard_error_is_the_paired_per_row_formula(weak, strong):
    comparison = challengers.compare(weak, strong)
    rows = training.holdout_rows(strong)
    truth = rows["species"].to_numpy()
    old = services.predict(weak, rows)["prediction"].to_numpy() == truth
    new = services.predict(strong, rows)["prediction"].to_numpy() == truth
    differences = new.astype(float) - old.astype(float)
    expected = np.std(differences, ddof=1) / math.sqrt(len(differences))
    assert comparison.se_method == "per-row"
    assert comparison.standard_error == pytest.approx(expected, rel=1e-12)


def _train(frame, dataset, name, label, metric, excluded):
    version = training.train_version(
        frame,
        name=name,
        options=TrainOptions(
            label=label, eval_metric=metric, excluded=excluded, time_limit=60
        ),
        hyperparameters=autogluon.FAST_HYPERPARAMETERS,
        num_cpus=1,
    )
    return world.with_dataset(version, dataset)


@pytest.mark.slow
def test_a_metric_without_a_per_row_form_gets_a_seeded_paired_bootstrap(
    dataset, penguins_frame
):
    old = _train(
        penguins_frame,
        dataset,
        "f1",
        "species",
        "f1_macro",
        ["id", *world.WEAK_EXCLUDED[1:]],
    )
    new = _train(penguins_frame, dataset, "f1", "species", "f1_macro", ["id"])
    comparison = challengers.compare(old, new)
    rows = training.holdout_rows(new)
    truth = rows["species"].to_numpy()
    a = services.predict(old, rows)["prediction"].to_numpy()
    b = services.predict(new, rows)["prediction"].to_numpy()
    rng = np.random.default_rng(challengers.BOOTSTRAP_SEED)
    differences = []
    for _ in range(challengers.BOOTSTRAP_RESAMPLES):
        index = rng.integers(0, len(truth), len(truth))
        differences.append(
            skm.f1_score(truth[index], b[index], average="macro")
            - skm.f1_score(truth[index], a[index], average="macro")
        )
    assert comparison.se_method.startswith("paired bootstrap")
    assert comparison.standard_error == pytest.approx(
        np.std(differences, ddof=1), rel=1e-9
    )
    assert comparison.champion_score == pytest.approx(
        skm.f1_score(truth, a, average="macro"), abs=1e-12
    )


@pytest.mark.slow
def test_the_rmse_standard_error_is_the_delta_method_on_squared_errors(
    dataset, penguins_frame
):
    excluded = ["id", "species", "island", "bill_length_mm"]
    old = _train(penguins_frame, dataset, "mass", "body_mass_g", "", excluded)
    new = _train(penguins_frame, dataset, "mass", "body_mass_g", "", ["id"])
    comparison = challengers.compare(old, new)
    rows = training.holdout_rows(new)
    truth = rows["body_mass_g"].to_numpy(dtype=float)
    ea = services.predict(old, rows)["prediction"].to_numpy(dtype=float) - truth
    eb = services.predict(new, rows)["prediction"].to_numpy(dtype=float) - truth
    ra, rb = math.sqrt(np.mean(ea**2)), math.sqrt(np.mean(eb**2))
    assert comparison.metric == "root_mean_squared_error"
    assert not comparison.greater_is_better
    assert comparison.difference == pytest.approx(rb - ra, rel=1e-9)
    expected = np.std(eb**2 / (2 * rb) - ea**2 / (2 * ra), ddof=1) / math.sqrt(
        len(truth)
    )
    assert comparison.standard_error == pytest.approx(expected, rel=1e-9)
    # The delta method agrees with a large plain bootstrap of the RMSEs.
    rng = np.random.default_rng(1)
    boot = []
    for _ in range(2000):
        index = rng.integers(0, len(truth), len(truth))
        boot.append(
            math.sqrt(np.mean(eb[index] ** 2)) - math.sqrt(np.mean(ea[index] ** 2))
        )
    assert comparison.standard_error == pytest.approx(np.std(boot), rel=0.25)


def test_rows_without_the_label_are_refused(weak, strong, penguins_frame):
    with pytest.raises(ChallengeError, match="no label column species"):
        challengers.compare(weak, strong, penguins_frame.drop(columns=["species"]))


def test_rows_missing_a_feature_are_refused_naming_it(weak, strong, penguins_frame):
    with pytest.raises(ChallengeError, match="bill_length_mm"):
        challengers.compare(
            weak, strong, penguins_frame.drop(columns=["bill_length_mm"])
        )


def test_a_challenger_without_a_stored_dataset_cannot_be_compared(weak, strong):
    strong.dataset = None
    with pytest.raises(ChallengeError, match="not trained from a stored dataset"):
        challengers.compare(weak, strong)


# --- propose: the rule -----------------------------------------------------------


def test_a_better_challenger_is_promoted_by_the_rule(weak, strong, analyst):
    challenge = challengers.propose(
        strong, origin="policy 3, drift trigger", user=analyst
    )
    assert challenge.state == Challenge.State.PROMOTED
    assert challenge.champion == weak and challenge.proposed_by == analyst
    assert production(strong.model) == 2
    verdict = challengers.Verdict.from_json(challenge.verdict)
    assert verdict.met and verdict.improvement_met
    change = AliasChange.objects.get(challenge=challenge)
    assert (change.from_version, change.to_version) == (weak, strong)
    assert change.kind == AliasChange.Kind.PROMOTED
    assert kinds(strong) == ["challenge.proposed", "challenge.promoted"]
    proposed = Event.objects.using("events").get(
        model_version_id=strong.pk, kind="challenge.proposed"
    )
    assert "policy 3, drift trigger" in proposed.message
    assert proposed.data["comparison"]["rows"] == challenge.comparison["rows"]


@pytest.mark.slow
def test_a_worse_challenger_is_held_and_the_champion_keeps_serving(
    dataset, penguins_frame
):
    champion = world.train_strong(penguins_frame, dataset, alias="production")
    worse = world.train_weak(penguins_frame, dataset, alias=None)
    challenge = challengers.propose(worse)
    assert challenge.state == Challenge.State.HELD
    assert production(champion.model) == champion.number
    assert services.resolve_current("penguins").pk == champion.pk
    verdict = challengers.Verdict.from_json(challenge.verdict)
    assert not verdict.met and "at least 0 required" in verdict.reasons[0]
    assert not AliasChange.objects.filter(challenge=challenge).exists()
    assert kinds(worse) == ["challenge.proposed", "challenge.held"]


@pytest.mark.slow
def test_a_win_smaller_than_the_minimum_is_held(weak, strong):
    rule = PromotionRule(min_improvement=0.5)
    challenge = challengers.propose(strong, rule=rule)
    assert challenge.state == Challenge.State.HELD
    assert production(weak.model) == 1
    assert challenge.rule == rule.to_json()
    assert PromotionRule.from_json(challenge.rule) == rule


@pytest.mark.slow
def test_a_minimum_in_a_lower_is_better_metric_counts_down(dataset, penguins_frame):
    old = _train(
        penguins_frame,
        dataset,
        "mass",
        "body_mass_g",
        "",
        ["id", "species", "island", "bill_length_mm"],
    )
    new = _train(penguins_frame, dataset, "mass", "body_mass_g", "", ["id"])
    comparison = challengers.compare(old, new)
    assert comparison.difference < 0 < comparison.improvement
    promoted = challengers.propose(
        new, rule=PromotionRule(min_improvement=comparison.improvement / 2)
    )
    assert promoted.state == Challenge.State.PROMOTED


def test_with_no_champion_the_challenger_becomes_champion(weak):
    ModelAlias.objects.filter(model=weak.model).delete()
    challenge = challengers.propose(weak, rule=PromotionRule(needs_approval=True))
    assert challenge.state == Challenge.State.PROMOTED and challenge.champion is None
    assert production(weak.model) == 1
    assert challenge.comparison == {}


@pytest.mark.slow
def test_an_approval_rule_leaves_a_better_challenger_pending(weak, strong):
    challenge = challengers.propose(strong, rule=PromotionRule(needs_approval=True))
    assert challenge.state == Challenge.State.PENDING
    assert production(weak.model) == 1
    assert kinds(strong) == ["challenge.proposed", "challenge.pending"]


@pytest.mark.slow
def test_a_newer_proposal_supersedes_a_pending_one(
    weak, strong, penguins_frame, dataset
):
    first = challengers.propose(strong, rule=PromotionRule(needs_approval=True))
    third = world.train_strong(penguins_frame, dataset)
    second = challengers.propose(third, rule=PromotionRule(needs_approval=True))
    first.refresh_from_db()
    assert first.state == Challenge.State.SUPERSEDED
    assert second.state == Challenge.State.PENDING


# --- bad challengers -------------------------------------------------------------


def test_a_challenger_of_another_model_is_refused(weak, tiny_regressor):
    with pytest.raises(ChallengeError, match="another model"):
        challengers.compare(weak, tiny_regressor)
    assert not Challenge.objects.exists()


@pytest.mark.slow
def test_a_challenger_with_another_label_is_refused(weak, penguins_frame, dataset):
    other = training.train_version(
        penguins_frame,
        name="penguins",
        options=TrainOptions(label="island", excluded=["id"], time_limit=60),
        hyperparameters=autogluon.FAST_HYPERPARAMETERS,
        num_cpus=1,
    )
    world.with_dataset(other, dataset)
    with pytest.raises(ChallengeError, match="predicts island, but penguins v1"):
        challengers.propose(other)
    assert not Challenge.objects.exists() and production(weak.model) == 1


def test_a_challenger_of_another_problem_type_is_refused(weak, strong):
    strong.problem_type = "binary"
    with pytest.raises(ChallengeError, match="binary model"):
        challengers.propose(strong)
    assert not Challenge.objects.exists() and production(weak.model) == 1


def test_the_champion_cannot_challenge_itself(weak):
    with pytest.raises(ChallengeError, match="champion already"):
        challengers.propose(weak)


def test_an_archived_challenger_cannot_be_proposed(weak, strong):
    services.archive(strong)
    with pytest.raises(ChallengeError, match="archived"):
        challengers.propose(strong)


# --- approve and reject ----------------------------------------------------------


@pytest.fixture
def pending(weak, strong):
    return challengers.propose(strong, rule=PromotionRule(needs_approval=True))


@pytest.mark.slow
def test_approval_promotes_saying_who_when_and_why(pending, approver, strong):
    challenge = challengers.approve(pending, user=approver, reason="looks right")
    assert challenge.state == Challenge.State.APPROVED and challenge.promoted
    assert challenge.decided_by == approver and challenge.decided_at is not None
    assert challenge.reason == "looks right"
    assert production(strong.model) == 2
    change = AliasChange.objects.get(challenge=challenge)
    assert change.user == approver and change.reason == "looks right"
    assert kinds(strong)[-1] == "challenge.approved"


def test_a_rejection_keeps_the_champion(pending, approver, weak):
    challenge = challengers.reject(pending, user=approver, reason="too soon")
    assert challenge.state == Challenge.State.REJECTED
    assert production(weak.model) == 1
    assert kinds(pending.challenger)[-1] == "challenge.rejected"


def test_a_decision_needs_a_reason(pending, approver):
    with pytest.raises(ChallengeError, match="reason"):
        challengers.approve(pending, user=approver, reason="  ")
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING


@pytest.mark.slow
@pytest.mark.parametrize("role", ["viewer", "analyst", "operator", "nobody"])
def test_only_approvers_decide(pending, role, request):
    user = request.getfixturevalue(role)
    with pytest.raises(NotAllowed):
        challengers.approve(pending, user=user, reason="mine")
    with pytest.raises(NotAllowed):
        challengers.reject(pending, user=user, reason="mine")
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING
    assert production(pending.model) == 1


def test_a_superuser_may_approve(pending, superuser):
    assert challengers.approve(pending, user=superuser, reason="ok").promoted


def test_approving_a_challenge_that_is_not_pending_is_refused(pending, approver):
    challengers.reject(pending, user=approver, reason="no")
    with pytest.raises(ChallengeError, match="is rejected; only a pending"):
        challengers.approve(pending, user=approver, reason="yes after all")
    assert production(pending.model) == 1
    assert AliasChange.objects.filter(kind=AliasChange.Kind.PROMOTED).count() == 0


def test_a_challenger_archived_while_pending_is_not_half_promoted(
    pending, approver, strong
):
    services.archive(strong)
    with pytest.raises(ChallengeError, match="archived now"):
        challengers.approve(pending, user=approver, reason="go")
    pending.refresh_from_db()
    assert pending.state == Challenge.State.PENDING and pending.decided_by is None
    assert production(strong.model) == 1
    assert not AliasChange.objects.filter(challenge=pending).exists()


@pytest.mark.slow
def test_moving_the_alias_by_hand_supersedes_a_pending_challenge(
    pending, strong, analyst
):
    services.move_alias(strong, "production", user=analyst)
    pending.refresh_from_db()
    assert pending.state == Challenge.State.SUPERSEDED
    change = AliasChange.objects.get(kind=AliasChange.Kind.MOVED)
    assert change.user == analyst and change.to_version == strong


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "events"], transaction=True)
def test_two_approvals_at_once_give_one_promotion(penguins_frame, django_user_model):
    dataset = world.penguins_dataset()
    world.train_weak(penguins_frame, dataset)
    strong = world.train_strong(penguins_frame, dataset)
    challenge = challengers.propose(strong, rule=PromotionRule(needs_approval=True))
    users = []
    for name in ("ann", "bob"):
        user = django_user_model.objects.create_user(username=name, password="x")
        user.groups.add(Group.objects.get(name="approver"))
        users.append(user)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(user):
        from django.db import connections

        start.wait()
        try:
            challengers.approve(
                Challenge.objects.get(pk=challenge.pk), user=user, reason="go"
            )
            outcomes.append("approved")
        except ChallengeError as exc:
            outcomes.append(str(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes.count("approved") == 1 and len(outcomes) == 2
    refused = next(text for text in outcomes if text != "approved")
    assert "is approved and promoted; only a pending challenge" in refused
    assert AliasChange.objects.filter(kind=AliasChange.Kind.PROMOTED).count() == 1
    assert production(strong.model) == 2


# --- rollback ------------------------------------------------------------------


def test_rollback_returns_to_the_previous_champion(weak, strong, approver):
    challengers.propose(strong)
    alias = challengers.rollback(weak.model, user=approver, reason="bad night")
    assert alias.version == weak and production(weak.model) == 1
    change = AliasChange.objects.filter(kind=AliasChange.Kind.ROLLED_BACK).get()
    assert (change.from_version, change.to_version) == (strong, weak)
    assert change.user == approver and change.reason == "bad night"
    assert "challenge.rolled_back" in kinds(weak)
    assert "challenge.rolled_back" in kinds(strong)
    assert services.resolve_current("penguins").pk == weak.pk


@pytest.mark.slow
def test_rollback_walks_back_one_champion_at_a_time(
    weak, strong, approver, penguins_frame, dataset
):
    challengers.propose(strong)
    third = world.train_strong(penguins_frame, dataset)
    # Not better than v2 on its rows, so moved by hand.
    services.move_alias(third, "production")
    assert challengers.champions(weak.model) == [weak.pk, strong.pk, third.pk]
    challengers.rollback(weak.model, user=approver)
    assert production(weak.model) == 2
    challengers.rollback(weak.model, user=approver)
    assert production(weak.model) == 1
    with pytest.raises(ChallengeError, match="no previous champion"):
        challengers.rollback(weak.model, user=approver)
    assert production(weak.model) == 1


def test_rollback_with_no_previous_champion_is_refused(weak, approver):
    with pytest.raises(ChallengeError, match="no previous champion"):
        challengers.rollback(weak.model, user=approver)
    assert production(weak.model) == 1
    assert not AliasChange.objects.filter(kind=AliasChange.Kind.ROLLED_BACK).exists()


def test_rollback_of_a_missing_alias_is_refused(weak, approver):
    with pytest.raises(ChallengeError, match="no alias staging"):
        challengers.rollback(weak.model, alias="staging", user=approver)


def test_rollback_to_an_archived_champion_is_refused(weak, strong, approver):
    challengers.propose(strong)
    services.archive(weak)
    with pytest.raises(ChallengeError, match="restore it"):
        challengers.rollback(weak.model, user=approver)
    assert production(weak.model) == 2


def test_rollback_needs_the_approval_permission(weak, strong, analyst):
    challengers.propose(strong)
    with pytest.raises(NotAllowed):
        challengers.rollback(weak.model, user=analyst)
    assert production(weak.model) == 2


@pytest.mark.slow
def test_a_rollback_supersedes_pending_challenges(
    weak, strong, approver, penguins_frame, dataset
):
    challengers.propose(strong)
    third = world.train_weak(penguins_frame, dataset, alias=None)
    pending = challengers.propose(
        third, rule=PromotionRule(min_improvement=-1.0, needs_approval=True)
    )
    assert pending.state == Challenge.State.PENDING
    challengers.rollback(weak.model, user=approver)
    pending.refresh_from_db()
    assert pending.state == Challenge.State.SUPERSEDED


# --- lineage ---------------------------------------------------------------------


def test_the_history_of_a_version_shows_every_step(weak, strong, approver):
    challenge = challengers.propose(strong, rule=PromotionRule(needs_approval=True))
    challengers.approve(challenge, user=approver, reason="fine")
    challengers.rollback(weak.model, user=approver, reason="oops")
    steps = challengers.history(strong)
    assert [type(step).__name__ for step in steps] == [
        "Challenge",
        "AliasChange",
        "AliasChange",
    ]
    assert steps[1].kind == AliasChange.Kind.PROMOTED
    assert steps[2].kind == AliasChange.Kind.ROLLED_BACK
    assert kinds(strong) == [
        "challenge.proposed",
        "challenge.pending",
        "challenge.approved",
        "challenge.rolled_back",
    ]
    # The champion's history names the challenge it defended too.
    assert challenge in challengers.history(weak)


def test_training_with_an_alias_records_the_move(weak, penguins_frame, dataset):
    again = world.train_strong(penguins_frame, dataset, alias="production")
    change = AliasChange.objects.get(to_version=again)
    assert change.kind == AliasChange.Kind.TRAINED and change.from_version == weak


# --- fairness clause ---------------------------------------------------------------


def test_the_fairness_clause_on_fixed_gaps():
    met = challengers.gap_increase_check(0.10, 0.14, 0.05, ("sex",))
    assert met.met and met.increase == pytest.approx(0.04)
    worse = challengers.gap_increase_check(0.10, 0.20, 0.05, ("sex",))
    assert not worse.met and "up by 0.1" in worse.reason
    exact = challengers.gap_increase_check(0.1, 0.15, 0.05)
    assert exact.met  # at most, not less than
    unknown = challengers.gap_increase_check(None, 0.2, 0.05)
    assert not unknown.met and "champion" in unknown.reason
    assert challengers.FairnessCheck.from_json(worse.to_json()) == worse


def test_a_fairness_clause_that_cannot_be_checked_holds_the_challenger(weak, strong):
    rule = PromotionRule(max_fairness_gap_increase=0.05)
    challenge = challengers.propose(strong, rule=rule)
    assert challenge.state == Challenge.State.HELD
    verdict = challengers.Verdict.from_json(challenge.verdict)
    assert verdict.improvement_met and not verdict.fairness.met
    assert "No sensitive columns" in verdict.reasons[1]
    assert production(weak.model) == 1


def test_a_judge_without_a_fairness_clause_ignores_fairness():
    comparison = challengers.Comparison("accuracy", True, 10, 0.5, 0.6, 0.1, 0.05)
    assert challengers.judge(PromotionRule(), comparison).met
    assert not challengers.judge(PromotionRule(min_improvement=0.2), comparison).met
    bad = challengers.gap_increase_check(0.0, 0.3, 0.1)
    rule = PromotionRule(max_fairness_gap_increase=0.1)
    assert not challengers.judge(rule, comparison, bad).met
    assert challengers.Comparison.from_json(comparison.to_json()) == comparison


def test_the_fairness_clause_compares_both_worst_gaps_on_the_same_rows(
    weak, strong, penguins_frame
):
    from registry import fairness

    # Every row: the 69 held-out ones leave groups under fairness's 30 rows.
    rows = penguins_frame
    fairness.save(strong, fairness.evaluate(strong, rows, ["sex"], resamples=20))
    expected = [
        fairness.evaluate(v, rows, ["sex"], resamples=20).worst_gap()
        for v in (weak, strong)
    ]
    check = challengers.fairness_check(weak, strong, rows, 1.0)
    assert check.sensitive == ("sex",)
    assert (check.champion_gap, check.challenger_gap) == pytest.approx(expected)
    assert check.met
    lenient = challengers.propose(
        strong, rule=PromotionRule(max_fairness_gap_increase=1.0), rows=rows
    )
    assert lenient.state == Challenge.State.PROMOTED
    verdict = challengers.Verdict.from_json(lenient.verdict)
    assert verdict.fairness.challenger_gap == pytest.approx(expected[1])


def test_a_fairness_gap_grown_past_the_limit_holds_the_challenger(
    weak, strong, penguins_frame
):
    from registry import fairness

    rows = penguins_frame
    fairness.save(strong, fairness.evaluate(strong, rows, ["sex"], resamples=20))
    check = challengers.fairness_check(weak, strong, rows, 0.0)
    assert check.increase is not None
    limit = check.increase - 0.01  # just below what it grew by
    challenge = challengers.propose(
        strong, rule=PromotionRule(max_fairness_gap_increase=limit), rows=rows
    )
    verdict = challengers.Verdict.from_json(challenge.verdict)
    assert verdict.improvement_met and not verdict.fairness.met
    assert challenge.state == Challenge.State.HELD
    assert production(strong.model) == 1


def test_a_sensitive_column_missing_from_the_rows_fails_the_clause(
    weak, strong, penguins_frame
):
    from registry import fairness

    fairness.save(
        strong, fairness.evaluate(strong, penguins_frame, ["sex"], resamples=20)
    )
    check = challengers.fairness_check(
        weak, strong, penguins_frame.drop(columns=["sex"]), 0.1
    )
    assert not check.met and "sex" in check.reason


# --- the permission -----------------------------------------------------------


def test_the_approver_role_holds_the_new_permission_and_no_other_role_does():
    from mlframework.core import roles

    def codenames(name):
        return set(
            Group.objects.get(name=name).permissions.values_list("codename", flat=True)
        )

    assert codenames("approver") == {"view_platform", "approve_models"}
    for other in ("viewer", "analyst", "operator"):
        assert "approve_models" not in codenames(other)
    assert roles.APPROVE == "core.approve_models"


@pytest.mark.parametrize(
    ("who", "approves"),
    [
        ("viewer", False),
        ("analyst", False),
        ("operator", False),
        ("nobody", False),
        ("approver", True),
        ("superuser", True),
    ],
)
def test_only_approvers_and_superusers_hold_it(request, who, approves):
    from mlframework.core import roles

    user = request.getfixturevalue(who)
    assert roles.has(user, roles.APPROVE) is approves
    assert user.has_perm(roles.APPROVE) is approves


def test_the_admin_shows_the_promotion_record_read_only(admin_client_, weak, strong):
    from django.urls import reverse

    challenge = challengers.propose(strong)
    for name in ("challenge", "aliaschange", "shadowrun"):
        listed = admin_client_.get(reverse(f"admin:registry_{name}_changelist"))
        assert listed.status_code == 200, name
    change = reverse("admin:registry_challenge_change", args=[challenge.pk])
    assert admin_client_.get(change).status_code == 200
    delete = reverse("admin:registry_challenge_delete", args=[challenge.pk])
    assert admin_client_.post(delete, {"post": "yes"}).status_code == 403
    assert Challenge.objects.filter(pk=challenge.pk).exists()
