"""Challenger against champion: compare on the same rows, then promote by a
rule or by a person's approval; roll back to the previous champion.

`propose(challenger)` compares the new version with the one the alias points
at now, both predicted afresh on the challenger's held-out rows, and promotes,
holds or leaves it waiting for approval. Every alias move goes through
`_move`, in one transaction with the alias row locked, and leaves an
AliasChange: the history rollback walks back and the version page shows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mlframework.core import roles
from mlframework.events.log import log_event
from registry import services, training
from registry.cache import predictors
from registry.errors import RegistryError
from registry.models import (
    AliasChange,
    Challenge,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
)

SOURCE = "registry"
# Paired bootstrap of metrics that are not a mean of per-row losses.
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0
# Metrics whose value is a mean of per-row losses (RMSE: the root of one).
PER_ROW = (
    "accuracy",
    "log_loss",
    "mean_absolute_error",
    "root_mean_squared_error",
    "mean_absolute_percentage_error",
)
# AutoGluon clips probabilities so for its log loss; the same here.
LOG_LOSS_EPS = 1e-15


class ChallengeError(RegistryError):
    """A challenge that cannot be proposed, decided or rolled back; str()
    says why. Nothing was changed."""


class NotAllowed(ChallengeError):
    """The user lacks core.approve_models."""


# --- Contract -----------------------------------------------------------------


@dataclass(frozen=True)
class PromotionRule:
    # The challenger must win by at least this on the eval metric (in the
    # metric's better direction).
    min_improvement: float = 0.0
    # No fairness gap worse by more than this (None: not checked).
    max_fairness_gap_increase: float | None = None
    # True: a person holding core.approve_models decides.
    needs_approval: bool = False

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> PromotionRule:
        data = data or {}
        gap = data.get("max_fairness_gap_increase")
        return cls(
            min_improvement=float(data.get("min_improvement") or 0.0),
            max_fairness_gap_increase=None if gap is None else float(gap),
            needs_approval=bool(data.get("needs_approval", False)),
        )


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger scored on the same rows."""

    metric: str
    greater_is_better: bool
    rows: int
    champion_score: float
    challenger_score: float
    difference: float  # challenger - champion, in the metric's own units
    standard_error: float | None  # of the difference; None with < 2 rows
    se_method: str = ""  # "per-row" or "paired bootstrap (200, seed 0)"
    source: str = ""  # which rows
    champion: int | None = None  # version numbers
    challenger: int | None = None

    @property
    def improvement(self) -> float:
        """The difference in the metric's better direction (> 0: challenger wins)."""
        return self.difference if self.greater_is_better else -self.difference

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict | None) -> Comparison | None:
        if not data:
            return None
        names = {item.name for item in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class FairnessCheck:
    """The worst fairness gap of both on the same rows."""

    sensitive: tuple[str, ...]
    champion_gap: float | None
    challenger_gap: float | None
    max_increase: float
    met: bool
    reason: str

    @property
    def increase(self) -> float | None:
        if self.champion_gap is None or self.challenger_gap is None:
            return None
        return self.challenger_gap - self.champion_gap

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "sensitive": list(self.sensitive)}

    @classmethod
    def from_json(cls, data: dict | None) -> FairnessCheck | None:
        if not data:
            return None
        names = {item.name for item in dataclasses.fields(cls)}
        known = {key: value for key, value in data.items() if key in names}
        known["sensitive"] = tuple(known.get("sensitive") or ())
        return cls(**known)


@dataclass(frozen=True)
class Verdict:
    """Whether the rule was met, clause by clause."""

    met: bool
    improvement_met: bool | None
    fairness: FairnessCheck | None
    reasons: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "met": self.met,
            "improvement_met": self.improvement_met,
            "fairness": self.fairness.to_json() if self.fairness else None,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Verdict | None:
        if not data:
            return None
        return cls(
            met=bool(data.get("met")),
            improvement_met=data.get("improvement_met"),
            fairness=FairnessCheck.from_json(data.get("fairness")),
            reasons=tuple(data.get("reasons") or ()),
        )


# --- Comparing ----------------------------------------------------------------


def check_pair(champion: ModelVersion, challenger: ModelVersion) -> None:
    """ChallengeError unless the challenger can stand in for the champion."""
    if challenger.model_id != champion.model_id:
        raise ChallengeError(
            _("%(challenger)s is a version of another model than %(champion)s.")
            % {"challenger": challenger, "champion": champion}
        )
    if challenger.pk == champion.pk:
        raise ChallengeError(
            _("%(version)s is the champion already.") % {"version": challenger}
        )
    if challenger.label != champion.label:
        raise ChallengeError(
            _(
                "%(challenger)s predicts %(new)s, but %(champion)s predicts "
                "%(old)s: a challenger must predict the same label."
            )
            % {
                "challenger": challenger,
                "new": challenger.label,
                "champion": champion,
                "old": champion.label,
            }
        )
    if challenger.problem_type != champion.problem_type:
        raise ChallengeError(
            _(
                "%(challenger)s is a %(new)s model, but %(champion)s is a "
                "%(old)s model: a challenger must solve the same problem type."
            )
            % {
                "challenger": challenger,
                "new": challenger.problem_type,
                "champion": champion,
                "old": champion.problem_type,
            }
        )
    for version in (champion, challenger):
        if not version.is_ready:
            raise ChallengeError(
                _("%(version)s is %(status)s; only ready versions are compared.")
                % {"version": version, "status": version.status}
            )


def compare(
    champion: ModelVersion,
    challenger: ModelVersion,
    rows: pd.DataFrame | None = None,
) -> Comparison:
    """Both versions predicted afresh on the same rows (by default the
    challenger's held-out rows) and scored with the challenger's eval metric."""
    check_pair(champion, challenger)
    if rows is None:
        rows, source = _holdout(challenger)
    else:
        source = _("given rows")
    return _compare_on(champion, challenger, rows, source)


def _holdout(challenger: ModelVersion) -> tuple[pd.DataFrame, str]:
    try:
        rows = training.holdout_rows(challenger)
    except RegistryError as exc:
        raise ChallengeError(
            _("The rows to compare on cannot be read: %(why)s") % {"why": exc}
        ) from exc
    return rows, _("held-out rows of %(version)s") % {"version": challenger}


def _compare_on(
    champion: ModelVersion, challenger: ModelVersion, rows: pd.DataFrame, source: str
) -> Comparison:
    label = challenger.label
    if label not in rows.columns:
        raise ChallengeError(
            _("The rows to compare on have no label column %(label)s.")
            % {"label": label}
        )
    rows = rows.loc[rows[label].notna()].reset_index(drop=True)
    if rows.empty:
        raise ChallengeError(_("There are no labelled rows to compare on."))
    truth = rows[label]
    try:
        old = services.predict_batch(champion, rows, probabilities=True)
        new = services.predict_batch(challenger, rows, probabilities=True)
    except RegistryError as exc:
        raise ChallengeError(
            _("The two versions cannot be scored on these rows: %(why)s") % {"why": exc}
        ) from exc
    scorer = _Scorer(challenger, truth)
    champion_score = scorer.score(old)
    challenger_score = scorer.score(new)
    standard_error, method = scorer.standard_error(old, new)
    return Comparison(
        metric=challenger.eval_metric,
        greater_is_better=scorer.greater_is_better,
        rows=len(rows),
        champion_score=champion_score,
        challenger_score=challenger_score,
        difference=challenger_score - champion_score,
        standard_error=standard_error,
        se_method=method,
        source=source,
        champion=champion.number,
        challenger=challenger.number,
    )


class _Scorer:
    """The challenger's eval metric, as AutoGluon scores it, on fixed truth."""

    def __init__(self, version: ModelVersion, truth: pd.Series) -> None:
        self.version = version
        self.metric = version.eval_metric
        self.truth = truth
        self.predictor = predictors.get(version).predictor
        self.greater_is_better = self.predictor.greater_is_better()

    def _inputs(self, prediction: services.BatchPrediction, index=None):
        labels = pd.Series(prediction.labels)
        proba = prediction.probabilities
        if proba is not None:
            # In the challenger's class order; a class one never saw is 0.
            proba = proba.reset_index(drop=True).reindex(
                columns=list(self.version.classes), fill_value=0.0
            )
        truth = self.truth
        if index is not None:
            truth, labels = truth.iloc[index], labels.iloc[index]
            proba = proba.iloc[index] if proba is not None else None
        return truth.reset_index(drop=True), labels.reset_index(drop=True), proba

    def score(self, prediction: services.BatchPrediction, index=None) -> float:
        truth, labels, proba = self._inputs(prediction, index)
        if proba is not None:
            proba = proba.reset_index(drop=True)
        return float(self.predictor.eval_score(truth, labels, proba))

    def standard_error(
        self, old: services.BatchPrediction, new: services.BatchPrediction
    ) -> tuple[float | None, str]:
        rows = len(self.truth)
        if rows < 2:
            return None, ""
        if self.metric in PER_ROW:
            # Paired per-row formula: the SE of the mean of per-row loss
            # differences (RMSE by the delta method on squared errors).
            differences = self._row_differences(old, new)
            return _finite(np.std(differences, ddof=1) / math.sqrt(rows)), "per-row"
        # No per-row form (AUC, F1, R², MCC, ...): a seeded paired bootstrap.
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        differences = []
        for _resample in range(BOOTSTRAP_RESAMPLES):
            index = rng.integers(0, rows, rows)
            try:
                differences.append(self.score(new, index) - self.score(old, index))
            except RegistryError:
                continue  # undefined on this resample (one class only)
        method = f"paired bootstrap ({BOOTSTRAP_RESAMPLES}, seed {BOOTSTRAP_SEED})"
        if len(differences) < 2:
            return None, method
        return _finite(np.std(differences, ddof=1)), method

    def _row_differences(self, old, new) -> np.ndarray:
        """Per-row contributions to (challenger - champion)."""
        metric = self.metric
        if metric == "accuracy":
            truth = self.truth.to_numpy()
            return (np.asarray(new.labels) == truth).astype(float) - (
                np.asarray(old.labels) == truth
            ).astype(float)
        if metric == "log_loss":
            return _row_log_loss(self.version, self.truth, new) - _row_log_loss(
                self.version, self.truth, old
            )
        truth = self.truth.astype("float64").to_numpy()
        error_new = np.asarray(new.labels, dtype="float64") - truth
        error_old = np.asarray(old.labels, dtype="float64") - truth
        if metric == "mean_absolute_error":
            return np.abs(error_new) - np.abs(error_old)
        if metric == "mean_absolute_percentage_error":
            scale = np.abs(truth)
            return (np.abs(error_new) - np.abs(error_old)) / np.where(
                scale == 0, np.nan, scale
            )
        # RMSE = sqrt(mean(e²)): its gradient in mean(e²) is 1 / (2 RMSE).
        rmse_new = math.sqrt(np.mean(error_new**2)) or 1.0
        rmse_old = math.sqrt(np.mean(error_old**2)) or 1.0
        return error_new**2 / (2 * rmse_new) - error_old**2 / (2 * rmse_old)


def _row_log_loss(version, truth: pd.Series, prediction) -> np.ndarray:
    proba = prediction.probabilities.reset_index(drop=True).reindex(
        columns=list(version.classes), fill_value=0.0
    )
    classes = [str(c) for c in version.classes]
    where = [classes.index(str(value)) for value in truth]
    chosen = proba.to_numpy()[np.arange(len(where)), where]
    return -np.log(np.clip(chosen, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS))


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# --- Fairness -------------------------------------------------------------------


def sensitive_columns(version: ModelVersion) -> tuple[str, ...]:
    """The sensitive columns chosen for a version (registry/fairness.py)."""
    chosen = version.lineage.extra.get("sensitive") or ()
    return tuple(str(name) for name in chosen)


def gap_increase_check(
    champion_gap: float | None,
    challenger_gap: float | None,
    max_increase: float,
    sensitive: tuple[str, ...] = (),
) -> FairnessCheck:
    """The fairness clause on two worst gaps: the challenger's may exceed the
    champion's by at most `max_increase`. A gap that could not be measured
    fails the clause: the rule asked for a check that did not happen."""
    if champion_gap is None or challenger_gap is None:
        which = _("champion") if champion_gap is None else _("challenger")
        return FairnessCheck(
            sensitive,
            champion_gap,
            challenger_gap,
            max_increase,
            False,
            _("The %(which)s's fairness gap could not be measured.") % {"which": which},
        )
    increase = challenger_gap - champion_gap
    met = increase <= max_increase + 1e-12
    reason = _(
        "Worst fairness gap %(new).4g vs %(old).4g: up by %(up).4g, "
        "at most %(max).4g allowed."
    ) % {
        "new": challenger_gap,
        "old": champion_gap,
        "up": increase,
        "max": max_increase,
    }
    return FairnessCheck(
        sensitive, champion_gap, challenger_gap, max_increase, met, reason
    )


def fairness_check(
    champion: ModelVersion,
    challenger: ModelVersion,
    rows: pd.DataFrame,
    max_increase: float,
) -> FairnessCheck:
    """Both versions' worst gap on the same rows and sensitive columns."""
    sensitive = sensitive_columns(challenger) or sensitive_columns(champion)
    if not sensitive:
        return FairnessCheck(
            (),
            None,
            None,
            max_increase,
            False,
            _(
                "No sensitive columns are chosen for %(version)s: the fairness "
                "clause cannot be checked."
            )
            % {"version": challenger},
        )
    evaluate = _fairness_evaluate()
    if evaluate is None:
        return FairnessCheck(
            sensitive,
            None,
            None,
            max_increase,
            False,
            _("Fairness per group is not available on this installation."),
        )
    missing = [name for name in sensitive if name not in rows.columns]
    if missing:
        return FairnessCheck(
            sensitive,
            None,
            None,
            max_increase,
            False,
            _("The rows have no sensitive column(s) %(names)s.")
            % {"names": ", ".join(missing)},
        )
    try:
        gaps = [
            evaluate(version, rows, list(sensitive)).worst_gap()
            for version in (champion, challenger)
        ]
    except RegistryError as exc:
        return FairnessCheck(sensitive, None, None, max_increase, False, str(exc))
    return gap_increase_check(gaps[0], gaps[1], max_increase, sensitive)


def _fairness_evaluate():
    try:
        from registry import fairness  # merged from the fairness branch
    except ImportError:
        return None
    return getattr(fairness, "evaluate", None)


def judge(
    rule: PromotionRule,
    comparison: Comparison,
    fairness: FairnessCheck | None = None,
) -> Verdict:
    """Whether a comparison (and fairness check) meets the rule."""
    reasons = []
    improvement_met = comparison.improvement >= rule.min_improvement - 1e-12
    direction = _("higher") if comparison.greater_is_better else _("lower")
    reasons.append(
        _(
            "%(metric)s %(new).4g vs %(old).4g (%(direction)s is better): "
            "improvement %(gain).4g, at least %(min).4g required."
        )
        % {
            "metric": comparison.metric,
            "new": comparison.challenger_score,
            "old": comparison.champion_score,
            "direction": direction,
            "gain": comparison.improvement,
            "min": rule.min_improvement,
        }
    )
    met = improvement_met
    if rule.max_fairness_gap_increase is not None:
        if fairness is None:
            met = False
            reasons.append(_("The fairness clause was not checked."))
        else:
            met = met and fairness.met
            reasons.append(fairness.reason)
    return Verdict(met, improvement_met, fairness, tuple(reasons))


# --- Proposing and deciding ---------------------------------------------------


def champion_of(
    model: RegisteredModel, alias: str = "production"
) -> ModelVersion | None:
    row = model.aliases.select_related("version").filter(name=alias).first()
    return row.version if row else None


def propose(
    challenger: ModelVersion,
    *,
    alias: str = "production",
    rule: PromotionRule = PromotionRule(),
    origin: str = "",
    user=None,
    rows: pd.DataFrame | None = None,
    shadow_runs: int = 0,
) -> Challenge:
    """Compare `challenger` with the version `alias` points at now; promote
    it (rule met, no approval needed), hold it (rule not met) or leave it
    pending. With no champion yet, the challenger becomes the champion."""
    if not challenger.is_ready:
        raise ChallengeError(
            _("%(version)s is %(status)s; only a ready version can challenge.")
            % {"version": challenger, "status": challenger.status}
        )
    if shadow_runs < 0:
        raise ChallengeError(_("Shadow runs must be 0 or more."))
    model = challenger.model
    champion = champion_of(model, alias)
    user = user if getattr(user, "pk", None) else None
    fields = {
        "model": model,
        "alias": alias,
        "champion": champion,
        "challenger": challenger,
        "rule": rule.to_json(),
        "origin": str(origin)[:500],
        "proposed_by": user,
    }
    if champion is None:
        verdict = Verdict(True, None, None, (_("There was no champion yet."),))
        with transaction.atomic():
            challenge = Challenge.objects.create(
                state=Challenge.State.PROMOTED,
                verdict=verdict.to_json(),
                decided_at=timezone.now(),
                **fields,
            )
            _move(challenge, kind=AliasChange.Kind.PROMOTED, user=user)
        _log_proposed(challenge, None)
        _log_state(challenge, user)
        return challenge
    check_pair(champion, challenger)
    rows, source = _holdout(challenger) if rows is None else (rows, _("given rows"))
    comparison = _compare_on(champion, challenger, rows, source)
    fairness = None
    if rule.max_fairness_gap_increase is not None:
        fairness = fairness_check(
            champion, challenger, rows, rule.max_fairness_gap_increase
        )
    verdict = judge(rule, comparison, fairness)
    if not verdict.met:
        state = Challenge.State.HELD
    elif rule.needs_approval:
        state = Challenge.State.PENDING
    else:
        state = Challenge.State.PROMOTED
    with transaction.atomic():
        challenge = Challenge.objects.create(
            state=state,
            comparison=comparison.to_json(),
            verdict=verdict.to_json(),
            shadow_runs=shadow_runs if state != Challenge.State.PROMOTED else 0,
            decided_at=timezone.now() if state != Challenge.State.PENDING else None,
            **fields,
        )
        if state == Challenge.State.PROMOTED:
            _move(challenge, kind=AliasChange.Kind.PROMOTED, user=user)
        elif state == Challenge.State.PENDING:
            # The newest proposal is the one to decide on.
            Challenge.objects.filter(
                model=model, alias=alias, state=Challenge.State.PENDING
            ).exclude(pk=challenge.pk).update(
                state=Challenge.State.SUPERSEDED,
                reason=_("A newer challenger (%(version)s) was proposed.")
                % {"version": challenger},
                decided_at=timezone.now(),
            )
    _log_proposed(challenge, comparison)
    _log_state(challenge, user)
    return challenge


def approve(challenge: Challenge, *, user, reason: str) -> Challenge:
    """Promote a pending challenger; needs core.approve_models."""
    return _decide(challenge, Challenge.State.APPROVED, user=user, reason=reason)


def reject(challenge: Challenge, *, user, reason: str) -> Challenge:
    """Refuse a pending challenger; the champion keeps serving."""
    return _decide(challenge, Challenge.State.REJECTED, user=user, reason=reason)


def _decide(challenge: Challenge, state: str, *, user, reason: str) -> Challenge:
    _require_approver(user)
    reason = (reason or "").strip()
    if not reason:
        raise ChallengeError(_("Give a reason for the decision."))
    with transaction.atomic():
        # A conditional UPDATE that must touch one row: of two decisions at
        # once, only one finds it pending (on every database).
        claimed = Challenge.objects.filter(
            pk=challenge.pk, state=Challenge.State.PENDING
        ).update(state=state, decided_by=user, decided_at=timezone.now(), reason=reason)
        if claimed != 1:
            now = Challenge.objects.filter(pk=challenge.pk).first()
            raise ChallengeError(
                _(
                    "Challenge %(pk)s is %(state)s; only a pending challenge "
                    "can be approved or rejected."
                )
                % {
                    "pk": challenge.pk,
                    "state": now.get_state_display().lower() if now else _("gone"),
                }
            )
        challenge.refresh_from_db()
        if state == Challenge.State.APPROVED:
            _move(challenge, kind=AliasChange.Kind.PROMOTED, user=user, reason=reason)
    _log_state(challenge, user)
    return challenge


def _move(
    challenge: Challenge, *, kind: str, user=None, reason: str = ""
) -> ModelAlias:
    """Point the challenge's alias at its challenger, if it still points at
    the champion the challenger was compared with. In the caller's
    transaction, with the alias row locked."""
    model, name, version = challenge.model, challenge.alias, challenge.challenger
    version.refresh_from_db(fields=["status"])
    if not version.is_ready:
        raise ChallengeError(
            _("%(version)s is %(status)s now; it cannot be promoted.")
            % {"version": version, "status": version.status}
        )
    row = ModelAlias.objects.select_for_update().filter(model=model, name=name).first()
    current = row.version_id if row else None
    if current != challenge.champion_id:
        raise ChallengeError(
            _(
                "%(model)s@%(alias)s no longer points at the champion this "
                "challenger was compared with; propose it again."
            )
            % {"model": model.name, "alias": name}
        )
    try:
        with transaction.atomic():  # a savepoint: a racing first alias
            if row is None:
                row = ModelAlias.objects.create(model=model, name=name, version=version)
            else:
                row.version = version
                row.save(update_fields=["version", "updated"])
    except IntegrityError:
        raise ChallengeError(
            _("%(model)s@%(alias)s was set at the same time; propose it again.")
            % {"model": model.name, "alias": name}
        ) from None
    AliasChange.objects.create(
        model=model,
        alias=name,
        from_version_id=current,
        to_version=version,
        kind=kind,
        user=user if getattr(user, "pk", None) else None,
        reason=reason,
        challenge=challenge,
    )
    _supersede_others(model, name, keep=challenge.pk)
    return row


def _supersede_others(model: RegisteredModel, alias: str, *, keep=None) -> int:
    """Pending challenges against a champion that no longer serves."""
    return (
        Challenge.objects.filter(
            model=model, alias=alias, state=Challenge.State.PENDING
        )
        .exclude(pk=keep)
        .update(
            state=Challenge.State.SUPERSEDED,
            reason=_("The alias moved to another version before a decision."),
            decided_at=timezone.now(),
        )
    )


# --- Rollback -----------------------------------------------------------------


def champions(model: RegisteredModel, alias: str = "production") -> list[int]:
    """The alias's champions as a stack, oldest first, ending with the current
    one: each move pushes, each rollback pops (version ids)."""
    stack: list[int] = []
    for change in model.alias_changes.filter(alias=alias).order_by("created", "pk"):
        if change.kind == AliasChange.Kind.ROLLED_BACK:
            if len(stack) > 1:
                stack.pop()
            continue
        if not stack and change.from_version_id:
            stack.append(change.from_version_id)
        stack.append(change.to_version_id)
    current = champion_of(model, alias)
    if current is not None and (not stack or stack[-1] != current.pk):
        stack.append(current.pk)  # moved outside the history (an old database)
    return stack


def previous_champion(
    model: RegisteredModel, alias: str = "production"
) -> ModelVersion | None:
    stack = champions(model, alias)
    if len(stack) < 2:
        return None
    return ModelVersion.objects.select_related("model").get(pk=stack[-2])


def rollback(
    model: RegisteredModel, *, alias: str = "production", user, reason: str = ""
) -> ModelAlias:
    """Point the alias back at the previous champion."""
    _require_approver(user)
    with transaction.atomic():
        row = (
            ModelAlias.objects.select_for_update()
            .select_related("version")
            .filter(model=model, name=alias)
            .first()
        )
        if row is None:
            raise ChallengeError(
                _("%(model)s has no alias %(alias)s to roll back.")
                % {"model": model.name, "alias": alias}
            )
        previous = previous_champion(model, alias)
        if previous is None:
            raise ChallengeError(
                _("%(model)s@%(alias)s has no previous champion to roll back to.")
                % {"model": model.name, "alias": alias}
            )
        if not previous.is_ready:
            raise ChallengeError(
                _(
                    "The previous champion %(version)s is %(status)s; restore it "
                    "before rolling back."
                )
                % {"version": previous, "status": previous.status}
            )
        left = row.version
        row.version = previous
        row.save(update_fields=["version", "updated"])
        AliasChange.objects.create(
            model=model,
            alias=alias,
            from_version=left,
            to_version=previous,
            kind=AliasChange.Kind.ROLLED_BACK,
            user=user,
            reason=reason,
        )
        _supersede_others(model, alias)
    log_event(
        SOURCE,
        "challenge.rolled_back",
        f"{model.name}@{alias} rolled back from v{left.number} to "
        f"v{previous.number}" + (f": {reason}" if reason else ""),
        user=user,
        model_version=previous,
        data={"alias": alias, "from": left.number, "to": previous.number},
    )
    log_event(
        SOURCE,
        "challenge.rolled_back",
        f"{left} left {model.name}@{alias}: rolled back to v{previous.number}",
        user=user,
        model_version=left,
        data={"alias": alias, "from": left.number, "to": previous.number},
    )
    return row


# --- Helpers ------------------------------------------------------------------


def _require_approver(user) -> None:
    if not roles.has(user, roles.APPROVE):
        raise NotAllowed(
            _(
                "Only a user with the permission to approve models may approve, "
                "reject or roll back."
            )
        )


def history(version: ModelVersion) -> list[Any]:
    """The version's promotion lineage, oldest first: the challenges it was
    in (either side) and every alias move to or from it."""
    challenges = Challenge.objects.filter(
        challenger=version
    ) | Challenge.objects.filter(champion=version)
    changes = AliasChange.objects.filter(
        to_version=version
    ) | AliasChange.objects.filter(from_version=version)
    items = [
        *challenges.select_related(
            "champion", "challenger", "decided_by", "proposed_by"
        ),
        *changes.select_related("from_version", "to_version", "user", "challenge"),
    ]
    return sorted(items, key=lambda item: (item.created, item.pk))


def _log_proposed(challenge: Challenge, comparison: Comparison | None) -> None:
    versus = f" against v{challenge.champion.number}" if challenge.champion else ""
    measured = ""
    if comparison is not None:
        se = comparison.standard_error
        measured = (
            f": {comparison.metric} {comparison.challenger_score:.4g} vs "
            f"{comparison.champion_score:.4g} on {comparison.rows} rows "
            f"(difference {comparison.difference:+.4g}"
            + (f" ± {se:.2g}" if se is not None else "")
            + ")"
        )
    origin = f" [{challenge.origin}]" if challenge.origin else ""
    log_event(
        SOURCE,
        "challenge.proposed",
        f"{challenge.challenger} proposed for {challenge.model.name}@"
        f"{challenge.alias}{versus}{measured}{origin}",
        user=challenge.proposed_by,
        model_version=challenge.challenger,
        data={
            "challenge": challenge.pk,
            "origin": challenge.origin,
            "comparison": challenge.comparison,
            "rule": challenge.rule,
        },
    )


_STATE_KINDS = {
    Challenge.State.PROMOTED: "challenge.promoted",
    Challenge.State.HELD: "challenge.held",
    Challenge.State.PENDING: "challenge.pending",
    Challenge.State.APPROVED: "challenge.approved",
    Challenge.State.REJECTED: "challenge.rejected",
}


def _log_state(challenge: Challenge, user) -> None:
    verdict = Verdict.from_json(challenge.verdict)
    why = " ".join(verdict.reasons) if verdict else ""
    where = f"{challenge.model.name}@{challenge.alias}"
    text = {
        Challenge.State.PROMOTED: f"promoted to {where} by the rule",
        Challenge.State.HELD: "held: the rule was not met",
        Challenge.State.PENDING: "waits for approval",
        Challenge.State.APPROVED: f"approved and promoted to {where}",
        Challenge.State.REJECTED: "rejected",
    }[challenge.state]
    detail = challenge.reason if challenge.decided_by_id else why
    log_event(
        SOURCE,
        _STATE_KINDS[challenge.state],
        f"{challenge.challenger} {text}" + (f": {detail}" if detail else ""),
        level="warning" if challenge.state == Challenge.State.HELD else "info",
        user=user if getattr(user, "pk", None) else None,
        model_version=challenge.challenger,
        data={
            "challenge": challenge.pk,
            "state": challenge.state,
            "origin": challenge.origin,
            "champion": challenge.champion.number if challenge.champion else None,
            "reason": challenge.reason,
        },
    )
