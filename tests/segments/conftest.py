import pytest

from tests.factories import EndUserFactory, MembershipFactory, TraitDefinitionFactory


@pytest.fixture
def member(client):
    """A logged-in manager of one application."""
    membership = MembershipFactory()
    client.force_login(membership.user)
    return membership


@pytest.fixture
def app(member):
    """The manager's application with plan/role/teamSize traits and ten users:
    4 pro (2 admins), 6 free (1 admin)."""
    application = member.application
    TraitDefinitionFactory(application=application, key="plan", type="string")
    TraitDefinitionFactory(application=application, key="role", type="string")
    TraitDefinitionFactory(application=application, key="teamSize", type="number")
    people = [
        ("pro", "admin"),
        ("pro", "admin"),
        ("pro", "member"),
        ("pro", "member"),
        ("free", "admin"),
        ("free", "member"),
        ("free", "member"),
        ("free", "member"),
        ("free", "member"),
        ("free", "member"),
    ]
    for n, (plan, role) in enumerate(people):
        EndUserFactory(
            application=application,
            external_id=f"u{n:02d}",
            traits={"plan": plan, "role": role, "teamSize": n + 1},
        )
    return application
