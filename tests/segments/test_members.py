"""Members and invites (segments/actions.py): who joins at which role, the last owner who
stays, and the one-time invite links."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from segments import actions
from segments.models import Invite, Membership, invite_digest
from tests.factories import ApplicationFactory, MembershipFactory, UserFactory
from tests.segments.test_races import in_parallel, postgresql_only

pytestmark = pytest.mark.django_db

OWNER, EDITOR, VIEWER = Membership.Role.OWNER, Membership.Role.EDITOR, Membership.Role.VIEWER


@pytest.fixture
def owner():
    return MembershipFactory(role=OWNER, user__username="olga")


def _fields(error: ValidationError) -> dict[str, list[str]]:
    return error.value.message_dict


# --- membership_add ----------------------------------------------------------------------


def test_an_existing_user_is_added_at_the_chosen_role(owner):
    bob = UserFactory(username="bob")
    membership = actions.membership_add(application=owner.application, user=bob, role=VIEWER)
    assert Membership.objects.get(user=bob, application=owner.application).role == VIEWER
    assert membership.pk is not None


def test_adding_someone_already_a_member_is_a_field_error(owner):
    with pytest.raises(ValidationError) as error:
        actions.membership_add(application=owner.application, user=owner.user, role=EDITOR)
    assert _fields(error) == {"user": [f"olga is already a member of {owner.application} (owner)."]}
    assert Membership.objects.get(pk=owner.pk).role == OWNER


def test_the_database_refuses_a_second_membership_of_one_user_in_one_application(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=owner.user, application=owner.application, role=VIEWER)


def test_an_unknown_role_is_a_field_error(owner):
    with pytest.raises(ValidationError) as error:
        actions.membership_add(application=owner.application, user=UserFactory(), role="admin")
    assert _fields(error) == {"role": [actions.ROLE_ERROR]}
    assert owner.application.memberships.count() == 1


# --- membership_change_role / membership_remove: the last owner ----------------------------


def test_a_member_changes_role(owner):
    editor = MembershipFactory(application=owner.application, role=EDITOR)
    actions.membership_change_role(membership=editor, role=VIEWER)
    assert Membership.objects.get(pk=editor.pk).role == VIEWER


def test_the_last_owner_cannot_be_demoted(owner):
    MembershipFactory(application=owner.application, role=EDITOR)
    with pytest.raises(ValidationError) as error:
        actions.membership_change_role(membership=owner, role=EDITOR)
    message = f"olga is the last owner of {owner.application}: make another member an owner first."
    assert _fields(error) == {"role": [message]}
    assert Membership.objects.get(pk=owner.pk).role == OWNER


def test_an_owner_is_demoted_when_another_owner_remains(owner):
    other = MembershipFactory(application=owner.application, role=OWNER)
    actions.membership_change_role(membership=owner, role=VIEWER)
    assert Membership.objects.get(pk=owner.pk).role == VIEWER
    # Now the other is the last owner.
    with pytest.raises(ValidationError):
        actions.membership_change_role(membership=other, role=EDITOR)


def test_the_last_owner_check_reads_the_stored_roles_not_the_callers_copy(owner):
    """Two owners, each demoting the other from a page loaded while both were owners: the
    second change finds one owner left and is refused."""
    other = MembershipFactory(application=owner.application, role=OWNER)
    stale_other = Membership.objects.get(pk=other.pk)
    actions.membership_change_role(membership=owner, role=EDITOR)
    with pytest.raises(ValidationError):
        actions.membership_change_role(membership=stale_other, role=EDITOR)
    assert owner.application.memberships.filter(role=OWNER).count() == 1


def test_an_owner_of_another_application_does_not_count(owner):
    MembershipFactory(user=owner.user, role=OWNER)  # owner of another application
    MembershipFactory(role=OWNER)
    with pytest.raises(ValidationError):
        actions.membership_change_role(membership=owner, role=VIEWER)


def test_a_member_is_removed(owner):
    editor = MembershipFactory(application=owner.application, role=EDITOR)
    actions.membership_remove(membership=editor)
    assert not Membership.objects.filter(pk=editor.pk).exists()
    assert editor.user.pk is not None  # the account stays


def test_the_last_owner_cannot_be_removed(owner):
    MembershipFactory(application=owner.application, role=EDITOR)
    with pytest.raises(ValidationError) as error:
        actions.membership_remove(membership=owner)
    assert error.value.messages == [
        f"olga is the last owner of {owner.application}: make another member an owner first."
    ]
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_owner_may_leave_when_another_owner_remains(owner):
    MembershipFactory(application=owner.application, role=OWNER)
    actions.membership_remove(membership=owner)
    assert not Membership.objects.filter(pk=owner.pk).exists()


def test_removing_a_member_already_removed_says_so(owner):
    editor = MembershipFactory(application=owner.application, role=EDITOR)
    Membership.objects.filter(pk=editor.pk).delete()
    with pytest.raises(ValidationError) as error:
        actions.membership_remove(membership=editor)
    assert "no longer a member" in error.value.messages[0]


# --- member_add_or_invite: the Add form ------------------------------------------------------


def test_add_by_username_makes_a_member(owner):
    bob = UserFactory(username="bob")
    added = actions.member_add_or_invite(application=owner.application, who=" bob ", role=EDITOR)
    assert added.membership.user == bob and added.invite is None and added.token is None


def test_add_by_email_finds_the_account_ignoring_case(owner):
    bob = UserFactory(username="bob", email="Bob@Example.com")
    added = actions.member_add_or_invite(
        application=owner.application, who="bob@example.COM", role=VIEWER
    )
    assert added.membership.user == bob
    assert added.membership.role == VIEWER


def test_an_email_shared_by_two_accounts_asks_for_the_username(owner):
    UserFactory(username="bob", email="team@example.com")
    UserFactory(username="bea", email="team@example.com")
    with pytest.raises(ValidationError) as error:
        actions.member_add_or_invite(
            application=owner.application, who="team@example.com", role=VIEWER
        )
    assert list(_fields(error)) == ["who"]
    assert "by username" in _fields(error)["who"][0]
    assert owner.application.memberships.count() == 1


def test_add_an_existing_member_is_an_error_on_the_who_field(owner):
    with pytest.raises(ValidationError) as error:
        actions.member_add_or_invite(application=owner.application, who="olga", role=VIEWER)
    assert _fields(error) == {"who": [f"olga is already a member of {owner.application} (owner)."]}


def test_add_an_unknown_email_makes_an_invite_with_a_token_stored_hashed(owner):
    added = actions.member_add_or_invite(
        application=owner.application, who="new@example.com", role=EDITOR, created_by=owner.user
    )
    invite = added.invite
    assert added.membership is None
    assert (invite.email, invite.username, invite.role) == ("new@example.com", "", EDITOR)
    assert invite.created_by == owner.user
    assert invite.digest == invite_digest(added.token) != added.token
    assert added.token not in str(list(Invite.objects.values()))
    assert invite.expires_at - invite.created_at == timedelta(days=7)


def test_add_an_unknown_username_makes_an_invite_for_that_username(owner):
    added = actions.member_add_or_invite(application=owner.application, who="carol", role=VIEWER)
    assert (added.invite.email, added.invite.username) == ("", "carol")


@pytest.mark.parametrize(
    ("who", "role", "field"),
    [("", EDITOR, "who"), ("   ", EDITOR, "who"), ("not an@email", EDITOR, "who"),
     ("has space", EDITOR, "who"), ("x" * 151, EDITOR, "who"), ("ok@example.com", "boss", "role")],
)  # fmt: skip
def test_bad_input_to_add_is_a_field_error_and_writes_nothing(owner, who, role, field):
    with pytest.raises(ValidationError) as error:
        actions.member_add_or_invite(application=owner.application, who=who, role=role)
    assert list(_fields(error)) == [field]
    assert not Invite.objects.exists()
    assert owner.application.memberships.count() == 1


def test_a_second_pending_invite_for_the_same_person_is_refused(owner):
    actions.invite_create(application=owner.application, email="new@example.com", role=EDITOR)
    with pytest.raises(ValidationError) as error:
        actions.member_add_or_invite(
            application=owner.application, who="NEW@example.com", role=VIEWER
        )
    assert _fields(error) == {
        "who": ["NEW@example.com already has a pending invite: revoke it first."]
    }
    # Revoked, or in another application, it does not count.
    actions.invite_revoke(invite=Invite.objects.get())
    actions.invite_create(application=owner.application, email="new@example.com", role=EDITOR)
    actions.invite_create(application=ApplicationFactory(), email="new@example.com", role=EDITOR)
    assert Invite.objects.count() == 3


def test_the_database_refuses_an_invite_naming_nobody_or_two_people(owner):
    for email, username in [("", ""), ("a@example.com", "a")]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Invite.objects.create(
                application=owner.application,
                email=email,
                username=username,
                role=EDITOR,
                digest=email + username + "x",
                expires_at=timezone.now(),
            )


# --- invite_accept ---------------------------------------------------------------------------


def _invite(owner, **kwargs):
    kwargs = {"email": "new@example.com", "role": EDITOR} | kwargs
    return actions.invite_create(application=owner.application, created_by=owner.user, **kwargs)


def test_accepting_an_invite_makes_the_invitee_a_member_once(owner):
    invite, token = _invite(owner)
    newcomer = UserFactory(username="nina", email="NEW@example.com")
    membership = actions.invite_accept(token=token, user=newcomer)
    assert (membership.user, membership.application, membership.role) == (
        newcomer,
        owner.application,
        EDITOR,
    )
    invite.refresh_from_db()
    assert invite.accepted_by == newcomer and invite.accepted_at is not None
    assert not Invite.objects.pending().exists()


def test_an_invite_for_a_username_is_accepted_by_that_user(owner):
    _, token = _invite(owner, email="", username="nina", role=VIEWER)
    nina = UserFactory(username="nina", email="")
    assert actions.invite_accept(token=token, user=nina).role == VIEWER


def _refusal(token, user) -> str:
    with pytest.raises(ValidationError) as error:
        actions.invite_accept(token=token, user=user)
    return error.value.code


def test_a_used_invite_is_refused(owner):
    _, token = _invite(owner)
    newcomer = UserFactory(email="new@example.com")
    actions.invite_accept(token=token, user=newcomer)
    Membership.objects.filter(user=newcomer).delete()
    assert _refusal(token, newcomer) == "used"
    assert not Membership.objects.filter(user=newcomer).exists()


def test_an_expired_invite_is_refused(owner):
    invite, token = _invite(owner)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    newcomer = UserFactory(email="new@example.com")
    assert _refusal(token, newcomer) == "expired"
    assert not Membership.objects.filter(user=newcomer).exists()
    assert Invite.objects.get(pk=invite.pk).accepted_at is None


def test_a_revoked_invite_is_refused(owner):
    invite, token = _invite(owner)
    actions.invite_revoke(invite=invite)
    assert _refusal(token, UserFactory(email="new@example.com")) == "revoked"


def test_an_unknown_token_is_refused(owner):
    _invite(owner)
    assert _refusal("not-a-token", UserFactory(email="new@example.com")) == "unknown"
    assert _refusal("", UserFactory(email="new@example.com")) == "unknown"


def test_an_invite_is_not_for_someone_else_who_got_the_link(owner):
    invite, token = _invite(owner)
    stranger = UserFactory(username="mallory", email="mallory@example.com")
    assert _refusal(token, stranger) == "someone_else"
    assert not Membership.objects.filter(user=stranger).exists()
    assert Invite.objects.get(pk=invite.pk).accepted_at is None


def test_a_member_already_keeps_the_role_and_the_invite_stays_pending(owner):
    invite, token = _invite(owner, role=OWNER)
    viewer = MembershipFactory(
        application=owner.application, role=VIEWER, user__email="new@example.com"
    )
    assert _refusal(token, viewer.user) == "member"
    assert Membership.objects.get(pk=viewer.pk).role == VIEWER
    assert Invite.objects.get(pk=invite.pk).accepted_at is None


def test_an_accepted_invite_cannot_be_revoked(owner):
    invite, token = _invite(owner)
    actions.invite_accept(token=token, user=UserFactory(email="new@example.com"))
    with pytest.raises(ValidationError):
        actions.invite_revoke(invite=invite)
    assert Invite.objects.get(pk=invite.pk).revoked_at is None


# --- Under concurrency (PostgreSQL) ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    postgresql_only()
    first = MembershipFactory(role=OWNER)
    second = MembershipFactory(application=first.application, role=OWNER)
    pair = [first, second]
    results = in_parallel(
        2, lambda n: actions.membership_change_role(membership=pair[n], role=EDITOR)
    )
    assert sorted(type(result).__name__ for result in results) == ["Membership", "ValidationError"]
    assert first.application.memberships.filter(role=OWNER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_link_accepted_twice_at_once_makes_one_membership():
    postgresql_only()
    owner = MembershipFactory(role=OWNER)
    _, token = actions.invite_create(
        application=owner.application, email="new@example.com", role=EDITOR
    )
    newcomer = UserFactory(email="new@example.com")
    results = in_parallel(2, lambda n: actions.invite_accept(token=token, user=newcomer))
    refused = [result for result in results if isinstance(result, ValidationError)]
    assert len(refused) == 1 and refused[0].code == "used"
    assert Membership.objects.filter(user=newcomer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_person_added_twice_at_once_is_one_membership_and_a_field_error():
    postgresql_only()
    owner = MembershipFactory(role=OWNER)
    bob = UserFactory(username="bob")
    results = in_parallel(
        2, lambda n: actions.membership_add(application=owner.application, user=bob, role=VIEWER)
    )
    refused = [result for result in results if isinstance(result, ValidationError)]
    assert len(refused) == 1 and list(refused[0].message_dict) == ["user"]
    assert Membership.objects.filter(user=bob).count() == 1
