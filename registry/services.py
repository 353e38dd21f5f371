"""What other apps call: resolve a version, check a schema, predict, preload;
and the registry actions (move an alias, archive, delete, prune).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_integer_dtype,
    is_numeric_dtype,
)

from mlframework.events.log import log_event
from registry import acceleration, parsing, store
from registry.cache import predictors
from registry.contracts import Feature
from registry.errors import (
    BadValue,
    ModelUnavailable,
    RegistryError,
    SchemaError,
    VersionNotFound,
)
from registry.models import (
    AliasChange,
    Challenge,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    parse_ref,
)

SOURCE = "registry"


def resolve(
    model: str | RegisteredModel, ref: str | int = "production"
) -> ModelVersion:
    """The version behind `model`@`ref` (alias name or version number)."""
    if not isinstance(model, RegisteredModel):
        try:
            model = RegisteredModel.objects.get(name=str(model))
        except RegisteredModel.DoesNotExist:
            raise VersionNotFound(f"There is no model named {model!r}.") from None
    version = model.version_for(ref)
    version.model = model
    return version


# Versions resolved by resolve_current, by id, with the state they were read
# in (as the database gives it); bounded like the predictors.
_current: OrderedDict[int, tuple[ModelVersion, list]] = OrderedDict()
_current_lock = threading.Lock()


def resolve_current(model_name: str, ref: str | int = "production") -> ModelVersion:
    """resolve(), for predictions on every request: one query finds the
    version `ref` points at now, with what can change on it (status, files,
    analysis); the whole row is read again only when one of those changed.

    An alias moved, a version archived, deleted, pruned or re-measured in
    another process is seen on the next call. The returned object is shared
    between requests: read it, do not change it.
    """
    ref = parse_ref(ref)
    alias = router.db_for_read(ModelVersion)
    sql, params = _state_query(alias, isinstance(ref, int))
    given = {_ANY_NAME: model_name, _ANY_REF: ref}
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [given.get(p, p) for p in params])
        found = cursor.fetchone()
    if found is None:
        return resolve(model_name, ref)  # raises, saying what is missing
    pk, *now = found
    with _current_lock:
        cached = _current.get(pk)
        if cached is not None and cached[1] == now:
            _current.move_to_end(pk)
            return cached[0]
    version = ModelVersion.objects.select_related("model").get(pk=pk)
    with _current_lock:
        _current[pk] = (version, now)
        while len(_current) > 4 * predictors.size:
            _current.popitem(last=False)
    return version


# Stand for the model's name and the version number or alias name in the
# query compiled once; never real ones.
_ANY_NAME = "mlf-any-model-name"
_ANY_REF = "mlf-any-ref"
_ANY_NUMBER = 987_654_321
# What can change on a version; "created" too: a rolled-back test
# transaction can hand an id out again.
_STATE = ("status", "manifest_sha256", "compiled_sha256", "analysis", "created")


@cache
def _state_query(alias: str, by_number: bool) -> tuple[str, tuple]:
    """The ORM's SQL for a version's id and state by number or by alias,
    compiled once per database: building and compiling it costs more than
    running it, on every prediction request (bench/RESULTS.md)."""
    if by_number:
        query = ModelVersion.objects.using(alias).filter(
            model__name=_ANY_NAME, number=_ANY_NUMBER
        )
        rows = query.values_list("pk", *_STATE)
    else:
        query = ModelAlias.objects.using(alias).filter(
            model__name=_ANY_NAME, name=_ANY_REF
        )
        rows = query.values_list("version_id", *(f"version__{n}" for n in _STATE))
    sql, params = rows.order_by()[:1].query.get_compiler(alias).as_sql()
    return sql, tuple(_ANY_REF if p == _ANY_NUMBER else p for p in params)


@dataclass
class SchemaCheck:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def message(self, version: ModelVersion) -> str:
        if self.ok:
            return _("The columns fit %(version)s.") % {"version": version}
        return _("%(version)s needs column(s) missing from the input: %(names)s.") % {
            "version": version,
            "names": ", ".join(self.missing),
        }


def check_schema(version: ModelVersion, columns: list[str]) -> SchemaCheck:
    names = version.feature_names()
    given = [str(column) for column in columns]
    return SchemaCheck(
        missing=[name for name in names if name not in given],
        extra=[
            column
            for column in given
            if column not in names and column != version.label
        ],
    )


def _coerce(version: ModelVersion, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's columns, in training order, with the training types.

    Values that cannot take the trained type are a SchemaError naming the
    column, an example value and its row, rather than a silent NaN.
    """
    check = check_schema(version, list(frame.columns))
    if not check.ok:
        raise SchemaError(check.message(version), missing=check.missing)
    columns = {}
    wrong: dict[str, str] = {}
    first: BadValue | None = None
    for feature in version.features:
        name = feature.name
        column = frame[name]
        kind = feature.kind
        bad = None
        if kind == "numeric" and is_numeric_dtype(column.dtype):
            columns[name] = _numbers(feature, column)  # nothing to check
        elif kind == "numeric":
            # Some drivers (SQLite3) give DECIMALs and expressions as text.
            numbers = pd.to_numeric(column, errors="coerce")
            bad = numbers.isna() & column.notna()
            columns[name] = _numbers(feature, numbers)
            what = "numbers"
        elif kind == "datetime":
            dates = pd.to_datetime(column, errors="coerce")
            bad = dates.isna() & column.notna()
            columns[name] = dates
            what = "dates"
        elif kind == "boolean" and not is_bool_dtype(column.dtype):
            # A source's "Sim"/"N"/"true"/1 for a feature trained as booleans.
            booleans = parsing.to_booleans(column)
            bad = booleans.isna() & column.notna()
            columns[name] = booleans
            what = "true or false"
        elif kind in ("categorical", "text") and feature.dtype == "object":
            columns[name] = _text(feature, column)
        else:
            columns[name] = column
        if bad is not None and bad.any():
            position = int(bad.to_numpy().nonzero()[0][0])
            value = column.iloc[position]
            wrong[name] = _("expected %(what)s, got %(value)r") % {
                "what": _EXPECTED.get(what, what),
                "value": value,
            }
            if first is None or position < first.row:
                first = BadValue(position, name, value, what)
    if wrong:
        detail = "; ".join(f"{name}: {why}" for name, why in wrong.items())
        raise SchemaError(
            _("Column(s) with the wrong type for %(version)s: %(detail)s.")
            % {"version": version, "detail": detail},
            wrong_type=wrong,
            bad_value=first,
        )
    return pd.DataFrame(columns, index=frame.index)


# What a column should have held, for the wrong-type message.
_EXPECTED = {"numbers": gettext_lazy("numbers"), "dates": gettext_lazy("dates")}


def _text(feature: Feature, column: pd.Series) -> pd.Series:
    if column.dtype == object and infer_dtype(column, skipna=True) in (
        "string",
        "empty",
    ):
        return column  # text already (None stays missing)
    if isinstance(
        column.dtype, pd.CategoricalDtype
    ) and column.cat.categories.inferred_type in ("string", "empty"):
        # Text as categoricals (from Arrow batches): AutoGluon makes objects
        # of it; the one-pass feature pipeline codes it by its categories.
        return column
    if all(isinstance(c, str) for c in feature.categories):
        column = column.astype(object)
        return column.where(column.isna(), column.astype(str))
    return column


_INT64 = np.dtype("int64")
_FLOAT64 = np.dtype("float64")


def _numbers(feature: Feature, column: pd.Series) -> pd.Series:
    """A numeric feature's values as float64; as int64 when it was trained
    as integers and is given integers, or floats, with no missing value.
    AutoGluon's type conversion then finds the trained types and skips its
    pass over the frame, which a dispatch pays per chunk and the Showroom per
    request (bench/RESULTS.md), and the one-pass feature pipeline applies.
    That pass would make the same integers of the floats: numpy's astype."""
    dtype = column.dtype
    if feature.dtype != "int64":
        return _as(column, _FLOAT64)
    if is_integer_dtype(dtype):
        numpy = np.dtype(getattr(dtype, "numpy_dtype", dtype))
        small = numpy.kind == "i" or numpy.itemsize < 8  # uint64 may not fit
        if small and (isinstance(dtype, np.dtype) or not column.hasnans):
            return _as(column, _INT64)
    elif _fits_int64(column):
        # A form or JSON gives 2008 as 2008.0 once a row has a decimal.
        return column.astype(_INT64)
    return _as(column, _FLOAT64)


def _fits_int64(column: pd.Series) -> bool:
    """Plain floats, none missing, all within int64's range."""
    if not (isinstance(column.dtype, np.dtype) and column.dtype.kind == "f"):
        return False
    values = column.to_numpy()
    with np.errstate(invalid="ignore"):
        return bool(((values >= -(2.0**63)) & (values < 2.0**63)).all())


def _as(column: pd.Series, dtype: np.dtype) -> pd.Series:
    # A column that has the type already is taken as it is (astype looks the
    # type up even when there is nothing to convert).
    return column if column.dtype == dtype else column.astype(dtype, copy=False)


def _entry(version: ModelVersion):
    if version.status != ModelVersion.Status.READY:
        predictors.drop(version.pk)
        raise ModelUnavailable(
            f"{version} is {version.get_status_display().lower()}; "
            "only ready versions predict."
        )
    manifest = store.version_dir(version.model.name, version.number) / store.MANIFEST
    if not manifest.is_file():
        # Deleted by another process: forget our loaded copy too.
        predictors.drop(version.pk)
    return predictors.get(version)


@dataclass(frozen=True)
class BatchPrediction:
    """One batch's predictions, in the input's row order."""

    version: ModelVersion
    labels: np.ndarray
    # One column per class, in version.classes order; None unless asked for
    # (classification only).
    probabilities: pd.DataFrame | None
    # The model's input as it was predicted: what per-batch statistics read.
    features: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.labels)

    def frame(self, index=None) -> pd.DataFrame:
        """ "prediction" and, when asked for, "proba_<class>" columns."""
        result = pd.DataFrame({"prediction": self.labels}, index=index)
        if self.probabilities is not None:
            for label in self.version.classes:
                result[f"proba_{label}"] = self.probabilities[label].to_numpy()
        return result


# Called with each batch's predictions, in the caller's thread (drift
# statistics, shadow scoring); an exception stops the caller's work.
BatchHook = Callable[[BatchPrediction], None]


def predict_batch(
    version: ModelVersion,
    batch: pa.RecordBatch | pa.Table | pd.DataFrame,
    *,
    probabilities: bool = False,
    hooks: Sequence[BatchHook] = (),
) -> BatchPrediction:
    """The one way to a prediction: the rows of `batch` (an Arrow record batch
    or table, or a DataFrame, with at least the model's columns) checked
    against the version's schema, coerced to the trained types, predicted,
    and handed to each hook. SchemaError names what does not fit
    (bad_value: where); ModelUnavailable when the version cannot predict."""
    if isinstance(batch, pa.RecordBatch | pa.Table):
        check = check_schema(version, list(batch.schema.names))
        if not check.ok:
            raise SchemaError(check.message(version), missing=check.missing)
        frame = _coded_text(version, batch).to_pandas()
    else:
        frame = batch
    features = _coerce(version, frame)
    want = probabilities and version.is_classification
    if features.empty:
        labels = np.array([], dtype=object)
        proba = pd.DataFrame(columns=list(version.classes)) if want else None
    else:
        entry = _entry(version)
        with entry.lock:
            if want:  # one pass: labels are derived from the probabilities
                predicted, proba = entry.predictor.predict_both(features)
            else:
                predicted, proba = entry.predictor.predict(features), None
        labels = predicted.to_numpy()
    result = BatchPrediction(version, labels, proba, features)
    for hook in hooks:
        hook(result)
    return result


def _coded_text(version: ModelVersion, batch: pa.RecordBatch | pa.Table):
    """The batch with its text features dictionary-encoded by Arrow, so pandas
    gets them as categoricals: no Python string per row, and each distinct
    value is coded once by the one-pass feature pipeline."""
    text = {f.name for f in version.features if f.is_text_category}
    arrays = list(batch.columns)
    coded = False
    for index, column in enumerate(batch.schema):
        if column.name in text and (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            arrays[index] = pc.dictionary_encode(arrays[index])
            coded = True
    if not coded:
        return batch
    if isinstance(batch, pa.Table):
        return pa.Table.from_arrays(arrays, names=batch.schema.names)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def predict(
    version: ModelVersion, frame: pd.DataFrame, *, probabilities: bool = False
) -> pd.DataFrame:
    """Predictions for `frame`, same index; "prediction" (+ "proba_<class>")."""
    result = predict_batch(version, frame, probabilities=probabilities)
    return result.frame(index=frame.index)


def preload(aliases: list[str]) -> int:
    """Load and persist the ready versions behind these aliases; return how many."""
    loaded = 0
    for alias in ModelAlias.objects.filter(name__in=aliases).select_related(
        "version", "version__model"
    ):
        version = alias.version
        if version.status != ModelVersion.Status.READY:
            continue
        try:
            _entry(version)
        except RegistryError as exc:
            log_event(
                SOURCE,
                "preload.failed",
                f"{version} could not be preloaded: {exc}",
                level="warning",
                model_version=version,
            )
            continue
        loaded += 1
    return loaded


# --- Registry actions -------------------------------------------------------


def move_alias(version: ModelVersion, name: str, *, user=None) -> ModelAlias:
    if version.status != ModelVersion.Status.READY:
        raise RegistryError(
            _("%(version)s is %(status)s; only a ready version can carry an alias.")
            % {"version": version, "status": version.get_status_display()}
        )
    with transaction.atomic():
        alias = (
            ModelAlias.objects.select_for_update()
            .filter(model=version.model, name=name)
            .first()
        )
        previous = alias.version if alias else None
        if alias is None:
            alias = ModelAlias(model=version.model, name=name)
        alias.version = version
        alias.full_clean()
        alias.save()
        if previous != version:
            # The alias history rollback walks back (registry/challengers.py);
            # a challenge waiting against the old champion is moot now.
            AliasChange.objects.create(
                model=version.model,
                alias=name,
                from_version=previous,
                to_version=version,
                kind=AliasChange.Kind.MOVED,
                user=user if getattr(user, "pk", None) else None,
            )
            Challenge.objects.filter(
                model=version.model, alias=name, state=Challenge.State.PENDING
            ).update(
                state=Challenge.State.SUPERSEDED,
                reason="The alias was moved by hand before a decision.",
                decided_at=timezone.now(),
            )
    moved_from = f" (was v{previous.number})" if previous else ""
    log_event(
        SOURCE,
        "alias.moved",
        f"{version.model.name}@{name} now points at v{version.number}{moved_from}",
        user=user,
        model_version=version,
        data={"alias": name, "previous": previous.number if previous else None},
    )
    return alias


def _retire(version: ModelVersion, status: str, *, user=None) -> ModelVersion:
    if version.aliases.exists():
        names = ", ".join(version.alias_names())
        raise RegistryError(
            _(
                "%(version)s carries the alias %(names)s; "
                "move it to another version first."
            )
            % {"version": version, "names": names}
        )
    with transaction.atomic():
        version.status = status
        version.status_changed = timezone.now()
        version.save(update_fields=["status", "status_changed"])
    predictors.drop(version.pk)
    return version


def archive(version: ModelVersion, *, user=None) -> ModelVersion:
    """Stop using a version; its files stay (it can be restored)."""
    if version.status != ModelVersion.Status.READY:
        raise RegistryError(
            _("%(version)s is already %(status)s.")
            % {"version": version, "status": version.get_status_display()}
        )
    _retire(version, ModelVersion.Status.ARCHIVED, user=user)
    log_event(
        SOURCE,
        "version.archived",
        f"{version} archived",
        user=user,
        model_version=version,
    )
    return version


def restore(version: ModelVersion, *, user=None) -> ModelVersion:
    if version.status != ModelVersion.Status.ARCHIVED:
        raise RegistryError(
            _("Only an archived version can be restored; %(version)s is %(status)s.")
            % {"version": version, "status": version.get_status_display()}
        )
    store.verify(version)
    version.status = ModelVersion.Status.READY
    version.status_changed = timezone.now()
    version.save(update_fields=["status", "status_changed"])
    log_event(
        SOURCE,
        "version.restored",
        f"{version} restored",
        user=user,
        model_version=version,
    )
    return version


def delete(version: ModelVersion, *, user=None) -> ModelVersion:
    """Remove the files; the row and its lineage stay, marked deleted."""
    if version.status == ModelVersion.Status.DELETED:
        raise RegistryError(_("%(version)s is already deleted.") % {"version": version})
    freed = version.size_bytes
    _retire(version, ModelVersion.Status.DELETED, user=user)
    store.remove(version.model.name, version.number)
    version.size_bytes = 0
    version.save(update_fields=["size_bytes"])
    log_event(
        SOURCE,
        "version.deleted",
        f"{version} deleted; {freed} bytes freed, lineage kept",
        user=user,
        model_version=version,
        data={"freed_bytes": freed},
    )
    return version


def prune(version: ModelVersion, *, user=None) -> list[str]:
    """Keep only the best model inside the predictor to save disk."""
    if version.status == ModelVersion.Status.DELETED:
        raise RegistryError(
            _("%(version)s is deleted; there is nothing to prune.")
            % {"version": version}
        )
    predictor = store.load(version)
    deleted = predictor.prune()
    folder = store.version_dir(version.model.name, version.number)
    before = version.size_bytes
    with transaction.atomic():
        version.manifest_sha256 = store.write_manifest(
            folder, model=version.model.name, number=version.number
        )
        version.size_bytes = store.size_bytes(folder)
        version.lineage = version.lineage.replace(
            pruned={
                "at": timezone.now().isoformat(),
                "deleted_models": deleted,
                "bytes_before": before,
            },
            size_bytes=version.size_bytes,
        )
        version.save(update_fields=["manifest_sha256", "size_bytes", "lineage"])
    predictors.drop(version.pk)
    if version.compiled_sha256:
        # AutoGluon saved the kept models again: compile from those files.
        acceleration.compile_version(version)
    log_event(
        SOURCE,
        "version.pruned",
        f"{version} pruned to its best model: {len(deleted)} model(s) removed, "
        f"{before - version.size_bytes} bytes freed",
        user=user,
        model_version=version,
        data={"deleted_models": deleted},
    )
    return deleted
