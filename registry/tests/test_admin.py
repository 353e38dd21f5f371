import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_the_admin_lists_registry_objects_read_only(admin_client_, tiny_classifier):
    for name in (
        "dataset",
        "registeredmodel",
        "modelversion",
        "modelalias",
        "trainingjob",
    ):
        response = admin_client_.get(reverse(f"admin:registry_{name}_changelist"))
        assert response.status_code == 200, name
    page = admin_client_.get(
        reverse("admin:registry_modelversion_change", args=[tiny_classifier.pk])
    )
    assert page.status_code == 200 and b'name="label"' not in page.content
    assert (
        admin_client_.get(reverse("admin:registry_modelversion_add")).status_code == 403
    )
