"""Read-mostly admin views: lineage is written by training, never by hand."""

from django.contrib import admin

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


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(ReadOnly):
    list_display = ["name", "format", "rows", "size_bytes", "sha256", "created"]
    search_fields = ["name", "sha256"]


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ["name", "created"]
    fields = ["name", "description"]
    readonly_fields = ["name"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnly):
    list_display = ["model", "number", "status", "label", "problem_type", "created"]
    list_filter = ["status", "problem_type"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # delete through the version page: files go, lineage stays


@admin.register(ModelAlias)
class ModelAliasAdmin(ReadOnly):
    list_display = ["model", "name", "version", "updated"]


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnly):
    list_display = ["id", "model_name", "status", "created", "started", "finished"]
    list_filter = ["status"]


class Audited(ReadOnly):
    """The promotion record auditors read: never changed or deleted by hand."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Challenge)
class ChallengeAdmin(Audited):
    list_display = [
        "id",
        "model",
        "alias",
        "champion",
        "challenger",
        "state",
        "created",
    ]
    list_filter = ["state"]


@admin.register(AliasChange)
class AliasChangeAdmin(Audited):
    list_display = ["model", "alias", "from_version", "to_version", "kind", "created"]
    list_filter = ["kind"]


@admin.register(ShadowRun)
class ShadowRunAdmin(Audited):
    list_display = ["challenge", "dispatch_run_id", "rows", "agreement", "created"]
