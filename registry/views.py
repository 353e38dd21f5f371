from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mlframework.core import roles
from mlframework.core.numbers import grouped
from mlframework.events.pages import recent
from registry import (
    autogluon,
    challengers,
    datasets,
    fairness,
    fairness_jobs,
    jobs,
    services,
    snapshots,
)
from registry.cache import shortcut_report
from registry.challengers import Comparison, PromotionRule, Verdict
from registry.errors import (
    DatasetError,
    RegistryError,
    SnapshotError,
    TrainingRefused,
)
from registry.forms import (
    AliasForm,
    ColumnTypesForm,
    CompareForm,
    DecisionForm,
    FairnessForm,
    PlanForm,
    ProposeForm,
    QuerySnapshotForm,
    RollbackForm,
    SheetForm,
    TrainForm,
    UploadForm,
)
from registry.models import (
    Challenge,
    Dataset,
    ModelVersion,
    RegisteredModel,
    TrainingJob,
)
from registry.shadow import overall as shadow_overall
from registry.training import TrainOptions


@require_GET
@roles.require(roles.VIEW)
def index(request):
    models = RegisteredModel.objects.prefetch_related("aliases__version", "versions")
    return render(
        request,
        "registry/index.html",
        {
            "models": models,
            "jobs": TrainingJob.objects.select_related("dataset", "version__model")[
                :10
            ],
        },
    )


# --- Datasets ---------------------------------------------------------------


@require_GET
@roles.require(roles.VIEW)
def dataset_list(request):
    return render(
        request,
        "registry/datasets.html",
        {
            "datasets": Dataset.objects.all()[:200],
            "form": UploadForm(),
            "query_form": QuerySnapshotForm(),
        },
    )


@require_POST
@roles.require(roles.TRAIN)
def upload(request):
    try:
        datasets.check_request_size(int(request.META.get("CONTENT_LENGTH") or 0))
    except DatasetError as exc:
        context = {
            "datasets": Dataset.objects.all()[:200],
            "form": UploadForm(),
            "query_form": QuerySnapshotForm(),
            "refusal": str(exc),
        }
        return render(request, "registry/datasets.html", context, status=413)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            dataset, created = datasets.store_upload(
                uploaded.chunks(),
                filename=uploaded.name,
                name=form.cleaned_data["name"],
                user=request.user,
                language=get_language(),
            )
        except DatasetError as exc:
            form.add_error("file", str(exc))
        else:
            if not created:
                messages.info(
                    request,
                    _("This file was uploaded before as %(dataset)s.")
                    % {"dataset": dataset},
                )
            return redirect(dataset)
    return render(
        request,
        "registry/datasets.html",
        {
            "datasets": Dataset.objects.all()[:200],
            "form": form,
            "query_form": QuerySnapshotForm(),
        },
        status=400,
    )


@require_POST
@roles.require(roles.TRAIN)
def dataset_query(request):
    """Preview a datasource query's first rows, or snapshot its rows into a
    dataset. Synchronous, like an upload of the same size: training.
    max_query_rows bounds the rows (bench/RESULTS.md has the time per row),
    and a refusal shows on the form at once."""
    form = QuerySnapshotForm(request.POST)
    context = {
        "datasets": Dataset.objects.all()[:200],
        "form": UploadForm(),
        "query_form": form,
    }
    if form.is_valid():
        data = form.cleaned_data
        try:
            if request.POST.get("action") == "preview":
                context["preview"] = snapshots.preview(
                    data["datasource"], data["query"], params=data["params"]
                )
                return render(request, "registry/datasets.html", context)
            dataset, created = snapshots.snapshot_query(
                data["datasource"],
                data["query"],
                params=data["params"],
                name=data["name"],
                user=request.user,
            )
        except SnapshotError as exc:
            form.add_error(exc.field, str(exc))
        else:
            if not created:
                messages.info(
                    request,
                    _("These rows were snapshotted before, as %(name)s.")
                    % {"name": dataset},
                )
            return redirect(dataset)
    return render(request, "registry/datasets.html", context, status=400)


def _dataset_page(request, item: Dataset, *, types_form=None, sheet_form=None):
    columns = datasets.types_of(item)
    sheets = item.read_options.get("sheets") or []
    if types_form is None:
        types_form = ColumnTypesForm(columns=columns)
    if sheet_form is None and sheets:
        sheet_form = SheetForm(
            sheets=sheets,
            initial={
                "sheet": item.read_options.get("sheet"),
                "header_row": item.read_options.get("header_row"),
            },
        )
    bound = types_form.is_bound or (sheet_form is not None and sheet_form.is_bound)
    return render(
        request,
        "registry/dataset.html",
        {
            "dataset": item,
            "profile": item.profile,
            "jobs": item.jobs.all()[:20],
            "types_form": types_form,
            "sheet_form": sheet_form,
            "conventions": item.profile.get("conventions") or {},
        },
        status=400 if bound else 200,
    )


@require_GET
@roles.require(roles.VIEW)
def dataset(request, pk: int):
    return _dataset_page(request, get_object_or_404(Dataset, pk=pk))


@require_POST
@roles.require(roles.TRAIN)
def dataset_types(request, pk: int):
    """The user's column types, applied when the dataset is read for training."""
    item = get_object_or_404(Dataset, pk=pk)
    form = ColumnTypesForm(request.POST, columns=datasets.types_of(item))
    if form.is_valid():
        try:
            datasets.retype(item, corrections=form.corrections(), user=request.user)
        except DatasetError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Column types saved; training reads them."))
            return redirect(item)
    item.refresh_from_db()
    return _dataset_page(request, item, types_form=form)


@require_POST
@roles.require(roles.TRAIN)
def dataset_sheet(request, pk: int):
    """Another sheet of the workbook, or another header row: types detected afresh."""
    item = get_object_or_404(Dataset, pk=pk)
    form = SheetForm(request.POST, sheets=item.read_options.get("sheets") or [])
    if form.is_valid():
        try:
            datasets.retype(
                item,
                sheet=form.cleaned_data["sheet"],
                header_row=form.cleaned_data["header_row"],
                user=request.user,
            )
        except DatasetError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The dataset is read from the chosen sheet."))
            return redirect(item)
    item.refresh_from_db()
    return _dataset_page(request, item, sheet_form=form)


@require_http_methods(["GET", "POST"])
@roles.require(roles.TRAIN)
def train(request, pk: int):
    item = get_object_or_404(Dataset, pk=pk)
    form = TrainForm(
        request.POST or None,
        columns=item.columns,
        initial={"model_name": _suggest_name(item)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            job = jobs.submit(
                item, form.cleaned_data["model_name"], form.options(), user=request.user
            )
        except TrainingRefused as exc:
            form.add_error(exc.field or None, str(exc))
        except DatasetError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Training job %(pk)s queued.") % {"pk": job.pk})
            for warning in job.warnings:
                messages.warning(request, warning)
            return redirect(job)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "registry/train.html", {"dataset": item, "form": form}, status=status
    )


@require_GET
@roles.require(roles.TRAIN)
def plan(request, pk: int):
    """The live preview on the train form: inferred type, reason, warnings."""
    item = get_object_or_404(Dataset, pk=pk)
    form = PlanForm(request.GET, columns=item.columns)
    context = {"dataset": item}
    if form.is_valid():
        options = TrainOptions(
            label=form.cleaned_data["label"],
            problem_type=form.cleaned_data["problem_type"] or "auto",
            excluded=form.cleaned_data["excluded"],
        )
        try:
            context["plan"] = jobs.check(item, options)
        except (TrainingRefused, DatasetError) as exc:
            context["refusal"] = str(exc)
    else:
        context["refusal"] = _("Choose a label column.")
    return render(request, "registry/_plan.html", context)


def _events(**filters) -> list:
    try:
        return recent(20, **filters)
    except Exception:  # the events database is down: the page still shows
        return []


def _suggest_name(item: Dataset) -> str:
    return slugify(item.name)[:63] or "model"


# --- Jobs -------------------------------------------------------------------


@require_GET
@roles.require(roles.VIEW)
def job_list(request):
    return render(
        request,
        "registry/jobs.html",
        {"jobs": TrainingJob.objects.select_related("dataset", "version__model")[:100]},
    )


def _job_context(job: TrainingJob) -> dict:
    return {
        "job": job,
        "elapsed": int(jobs.elapsed_seconds(job)),
        "percent": jobs.progress_percent(job),
        "position": job.queue_position(),
        "log": jobs.live_log(job),
    }


@require_GET
@roles.require(roles.VIEW)
def job(request, pk: int):
    item = get_object_or_404(TrainingJob.objects.select_related("dataset"), pk=pk)
    context = _job_context(item)
    context["events"] = _events(source="registry", data__job=item.pk)
    return render(request, "registry/job.html", context)


@require_GET
@roles.require(roles.VIEW)
def job_progress(request, pk: int):
    item = get_object_or_404(TrainingJob.objects.select_related("dataset"), pk=pk)
    return render(request, "registry/_job_progress.html", _job_context(item))


@require_POST
@roles.require(roles.TRAIN)
def job_cancel(request, pk: int):
    item = get_object_or_404(TrainingJob, pk=pk)
    try:
        jobs.cancel(item, user=request.user)
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("Cancel requested for job %(pk)s.") % {"pk": item.pk}
        )
    return redirect(item)


# --- Models and versions ----------------------------------------------------


def _model(name: str) -> RegisteredModel:
    return get_object_or_404(RegisteredModel, name=name)


def _version(name: str, number: int) -> ModelVersion:
    return get_object_or_404(
        ModelVersion.objects.select_related("model", "dataset", "created_by"),
        model__name=name,
        number=number,
    )


@require_GET
@roles.require(roles.VIEW)
def model(request, name: str):
    item = _model(name)
    versions = item.versions.prefetch_related("aliases").select_related("created_by")
    latest = versions.first()
    return render(
        request,
        "registry/model.html",
        {
            "model": item,
            "versions": versions,
            "aliases": item.aliases.select_related("version"),
            "compare_form": CompareForm(
                model=item,
                initial={"a": latest.number if latest else 1, "b": 1},
            ),
            "previous_champion": challengers.previous_champion(item),
            "rollback_form": RollbackForm(),
            "pending": item.challenges.filter(state=Challenge.State.PENDING).count(),
        },
    )


@require_GET
@roles.require(roles.VIEW)
def version(request, name: str, number: int):
    item = _version(name, number)
    return render(
        request,
        "registry/version.html",
        {
            "version": item,
            "model": item.model,
            "alias_form": AliasForm(),
            "installed_autogluon": autogluon.version(),
            "events": _events(model_version_id=item.pk),
            "shortcuts": shortcut_report(item),
            "promotions": challengers.history(item),
            "propose_form": ProposeForm(),
            **_fairness_context(item),
        },
    )


def _fairness_context(item: ModelVersion) -> dict:
    row = fairness.stored(item)
    return {
        "fairness": row,
        "fairness_report": fairness.report_of(row),
        "fairness_form": FairnessForm(
            columns=fairness_jobs.candidate_columns(item),
            initial={"sensitive": row.sensitive if row else []},
        ),
    }


@require_POST
@roles.require(roles.TRAIN)
def measure_fairness(request, name: str, number: int):
    item = _version(name, number)
    form = FairnessForm(request.POST, columns=fairness_jobs.candidate_columns(item))
    if not form.is_valid():
        errors = " ".join(form.errors.get("sensitive", []))
        messages.error(request, _("Sensitive columns: %(errors)s") % {"errors": errors})
        return redirect(item)
    try:
        fairness_jobs.request(item, form.cleaned_data["sensitive"], user=request.user)
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, _("%(version)s: fairness per group queued.") % {"version": item}
        )
    return redirect(item)


@require_GET
@roles.require(roles.VIEW)
def compare(request, name: str):
    item = _model(name)
    form = CompareForm(request.GET, model=item)
    context = {"model": item, "form": form}
    status = 200
    if form.is_valid():
        context["a"] = form.cleaned_data["a_version"]
        context["b"] = form.cleaned_data["b_version"]
        context["rows"] = _comparison(context["a"], context["b"])
        context["fairness"] = _fairness_comparison(context["a"], context["b"])
        context["fairness_pairs"] = [
            (context["a"], context["fairness"]["a"]),
            (context["b"], context["fairness"]["b"]),
        ]
    else:
        status = 400
    return render(request, "registry/compare.html", context, status=status)


def _fairness_comparison(a: ModelVersion, b: ModelVersion) -> dict:
    """Both versions' stored reports, and whether they measured the same rows."""
    first = fairness.report_of(fairness.stored(a))
    second = fairness.report_of(fairness.stored(b))
    same = bool(first and second and first.rows_digest == second.rows_digest)
    return {"a": first, "b": second, "same_rows": same}


def _comparison(a: ModelVersion, b: ModelVersion) -> list[tuple[str, object, object]]:
    rows = [
        (_("Status"), a.get_status_display(), b.get_status_display()),
        (_("Created"), a.created, b.created),
        (_("Created by"), a.created_by, b.created_by),
        (
            _("Dataset"),
            a.lineage.dataset.name,
            b.lineage.dataset.name,
        ),
        (
            _("Dataset hash"),
            (a.lineage.dataset.sha256 or "")[:12],
            (b.lineage.dataset.sha256 or "")[:12],
        ),
        (
            _("Rows (train / held out)"),
            f"{grouped(a.lineage.train_rows)} / {grouped(a.lineage.test_rows)}",
            f"{grouped(b.lineage.train_rows)} / {grouped(b.lineage.test_rows)}",
        ),
        (_("Label"), a.label, b.label),
        (_("Problem type"), a.problem_type, b.problem_type),
        (_("Eval metric"), a.eval_metric, b.eval_metric),
    ]
    for key in sorted(set(a.scores) | set(b.scores)):
        rows.append(
            (
                _("Score: %(metric)s") % {"metric": key},
                a.scores.get(key),
                b.scores.get(key),
            )
        )
    for key, title in (
        ("preset", _("Preset")),
        ("time_limit", _("Time limit (s)")),
        ("seed", _("Seed")),
        ("excluded", _("Excluded columns")),
        ("best_model", _("Best model")),
        ("models_trained", _("Models trained")),
        ("fit_seconds", _("Fit time (s)")),
        ("latency_ms", _("Single-row latency (ms)")),
        ("rows_per_second", _("Batch rows/s")),
    ):
        rows.append((title, getattr(a.lineage, key), getattr(b.lineage, key)))
    rows.append((_("Size on disk (bytes)"), a.size_bytes, b.size_bytes))
    rows.append(
        (_("Features"), ", ".join(a.feature_names()), ", ".join(b.feature_names()))
    )
    for lib in sorted(set(a.lineage.libraries) | set(b.lineage.libraries)):
        rows.append(
            (
                lib,
                a.lineage.libraries.get(lib),
                b.lineage.libraries.get(lib),
            )
        )
    return rows


def _action(request, name: str, number: int, action, done: str, **values):
    """Run a version action; `done` is a translated "%(version)s ..." message."""
    item = _version(name, number)
    try:
        action(item, user=request.user)
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done % {"version": item, **values})
    return redirect(item)


@require_POST
@roles.require(roles.TRAIN)
def move_alias(request, name: str, number: int):
    item = _version(name, number)
    form = AliasForm(request.POST)
    if not form.is_valid():
        errors = " ".join(form.errors.get("alias", []))
        messages.error(request, _("Alias: %(errors)s") % {"errors": errors})
        return redirect(item)
    alias = form.cleaned_data["alias"]
    return _action(
        request,
        name,
        number,
        lambda version, user: services.move_alias(version, alias, user=user),
        _("%(version)s is now %(alias)s."),
        alias=alias,
    )


@require_POST
@roles.require(roles.TRAIN)
def archive(request, name: str, number: int):
    return _action(request, name, number, services.archive, _("%(version)s archived."))


@require_POST
@roles.require(roles.TRAIN)
def restore(request, name: str, number: int):
    return _action(request, name, number, services.restore, _("%(version)s restored."))


@require_POST
@roles.require(roles.TRAIN)
def delete(request, name: str, number: int):
    return _action(
        request,
        name,
        number,
        services.delete,
        _("%(version)s deleted: files removed, lineage kept."),
    )


@require_POST
@roles.require(roles.TRAIN)
def prune(request, name: str, number: int):
    return _action(
        request,
        name,
        number,
        services.prune,
        _("%(version)s pruned to its best model."),
    )


@require_POST
@roles.require(roles.TRAIN)
def analyse(request, name: str, number: int):
    return _action(
        request,
        name,
        number,
        jobs.reanalyse,
        _("%(version)s: leaderboard, importance and latency queued again."),
    )


# --- Challengers ------------------------------------------------------------


def _challenge(name: str, pk: int) -> Challenge:
    return get_object_or_404(
        Challenge.objects.select_related(
            "model", "champion", "challenger", "decided_by", "proposed_by"
        ),
        model__name=name,
        pk=pk,
    )


@require_GET
@roles.require(roles.VIEW)
def challenge_list(request, name: str):
    item = _model(name)
    return render(
        request,
        "registry/challenges.html",
        {
            "model": item,
            "challenges": item.challenges.select_related(
                "champion", "challenger", "decided_by"
            )[:200],
        },
    )


def _challenge_page(request, item: Challenge, form=None, status: int = 200):
    return render(
        request,
        "registry/challenge.html",
        {
            "challenge": item,
            "model": item.model,
            "comparison": Comparison.from_json(item.comparison),
            "verdict": Verdict.from_json(item.verdict),
            "rule": PromotionRule.from_json(item.rule),
            "shadows": item.shadows.all()[:50],
            "shadow_realised": shadow_overall(item.shadows.all()),
            "form": form or DecisionForm(),
        },
        status=status,
    )


@require_GET
@roles.require(roles.VIEW)
def challenge(request, name: str, pk: int):
    return _challenge_page(request, _challenge(name, pk))


@require_POST
@roles.require(roles.TRAIN)
def propose(request, name: str, number: int):
    item = _version(name, number)
    form = ProposeForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form[field].label}: {' '.join(messages_)}"
            for field, messages_ in form.errors.items()
        )
        messages.error(request, _("Not proposed: %(errors)s") % {"errors": errors})
        return redirect(item)
    data = form.cleaned_data
    try:
        made = challengers.propose(
            item,
            alias=data["alias"],
            rule=form.rule(),
            origin=data["origin"] or _("proposed by hand"),
            user=request.user,
            shadow_runs=data["shadow_runs"],
        )
    except RegistryError as exc:
        messages.error(request, str(exc))
        return redirect(item)
    messages.success(
        request,
        _("%(version)s proposed: %(state)s.")
        % {"version": item, "state": made.get_state_display().lower()},
    )
    return redirect(made)


def _decide(request, name: str, pk: int, decide, done: str):
    item = _challenge(name, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _challenge_page(request, item, form, status=400)
    try:
        decide(item, user=request.user, reason=form.cleaned_data["reason"])
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done % {"version": item.challenger})
    return redirect(item)


@require_POST
@roles.require(roles.APPROVE)
def approve(request, name: str, pk: int):
    return _decide(
        request, name, pk, challengers.approve, _("%(version)s approved and promoted.")
    )


@require_POST
@roles.require(roles.APPROVE)
def reject(request, name: str, pk: int):
    return _decide(request, name, pk, challengers.reject, _("%(version)s rejected."))


@require_POST
@roles.require(roles.APPROVE)
def rollback(request, name: str):
    item = _model(name)
    form = RollbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Rollback: the alias is not a valid name."))
        return redirect(item)
    alias = form.cleaned_data["alias"]
    try:
        moved = challengers.rollback(
            item, alias=alias, user=request.user, reason=form.cleaned_data["reason"]
        )
    except RegistryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("%(model)s@%(alias)s rolled back to v%(number)s.")
            % {"model": item.name, "alias": alias, "number": moved.version.number},
        )
    return redirect(item)
