import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from mlframework.core import roles

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def perms(group):
    return set(
        Group.objects.get(name=group).permissions.values_list("codename", flat=True)
    )


def test_the_migration_creates_the_three_roles():
    assert perms("viewer") == {"view_platform"}
    assert perms("analyst") == {"view_platform", "use_showroom", "train_models"}
    assert perms("operator") == {"view_platform", "operate_dispatches"}


@pytest.mark.parametrize(
    ("who", "view", "showroom", "train", "operate"),
    [
        ("viewer", True, False, False, False),
        ("analyst", True, True, True, False),
        ("operator", True, False, False, True),
        ("nobody", False, False, False, False),
        ("superuser", True, True, True, True),
    ],
)
def test_each_role_holds_its_permissions(request, who, view, showroom, train, operate):
    user = request.getfixturevalue(who)
    assert user.has_perm(roles.VIEW) is view
    assert user.has_perm(roles.SHOWROOM) is showroom
    assert user.has_perm(roles.TRAIN) is train
    assert user.has_perm(roles.OPERATE) is operate
    # The one-query check the views use gives the same answers.
    fresh = type(user).objects.get(pk=user.pk)
    expected = (view, showroom, train, operate)
    both = (roles.VIEW, roles.SHOWROOM, roles.TRAIN, roles.OPERATE)
    assert tuple(roles.has(fresh, p) for p in both) == expected
    assert tuple(roles.has(user, p) for p in both) == expected  # cache loaded


def test_a_permission_can_be_granted_to_a_single_user(nobody):
    from django.contrib.auth.models import Permission

    nobody.user_permissions.add(Permission.objects.get(codename="view_platform"))
    nobody = type(nobody).objects.get(pk=nobody.pk)
    assert roles.has(nobody, roles.VIEW) and not roles.has(nobody, roles.TRAIN)
    assert nobody.has_perm(roles.VIEW)
    nobody.is_active = False
    assert not roles.has(nobody, roles.VIEW)


def test_the_permission_check_is_one_query(analyst, django_assert_num_queries):
    fresh = type(analyst).objects.get(pk=analyst.pk)
    with django_assert_num_queries(1):
        assert roles.has(fresh, roles.SHOWROOM)


def test_the_admin_link_shows_only_for_staff(client, viewer, superuser):
    client.force_login(viewer)
    assert b'href="/admin/"' not in client.get(reverse("home")).content
    client.force_login(superuser)
    assert b'href="/admin/"' in client.get(reverse("home")).content


def test_users_without_a_role_see_why(client, nobody):
    client.force_login(nobody)
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert b"Ask an administrator" in response.content


def test_the_compiled_check_sees_grants_and_revocations_at_once(nobody):
    from django.contrib.auth.models import Group, Permission

    permission = Permission.objects.get(codename="use_showroom")
    assert not roles.has(nobody, roles.SHOWROOM)
    nobody.user_permissions.add(permission)
    assert roles.has(nobody, roles.SHOWROOM)
    nobody.user_permissions.remove(permission)
    assert not roles.has(nobody, roles.SHOWROOM)
    nobody.groups.add(Group.objects.get(name="analyst"))
    assert roles.has(nobody, roles.SHOWROOM)
    assert not roles.has(nobody, roles.OPERATE)
    # Another user's grant is not this one's.
    assert not roles.has(type(nobody)(pk=nobody.pk + 1000, is_active=True), roles.TRAIN)
