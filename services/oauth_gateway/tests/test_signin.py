"""Sign-in abuse, on fakes (fast): the budgets decide before Cloud POS is asked, every refusal about the account
is one answer, and the audit log keeps a keyed hash of the account, never the username or the password.
(The same over real HTTP and PostgreSQL, two instances, the Cloud POS sandbox and a proxy: test_signin_live.)"""

import json

import pytest

from oauth_gateway.domain.refusals import Code, Refusal
from oauth_gateway.domain.signin import Accounts, SignInLimits, normalised
from oauth_gateway.merchant import RefusalLog, SessionLifetime, Sessions
from oauth_gateway.merchant.sessions import SignedIn
from oauth_gateway.ports import ServiceRefusal, ServiceUnavailable
from oauth_gateway.ports import SignedIn as CloudPosUser
from oauth_gateway.settings import SignInSettings

from .fakes import FakeClock, FakeCloudPos, FakeKeyValidator, FakeSignInBudget, FakeUnitOfWork

VICTIM, CLIENT = "steve@example.test", "198.51.100.7"


class LockingCloudPos(FakeCloudPos):
    """Cloud POS's rule (the sandbox's): five failures in a row lock the account until support unlocks it."""

    def __init__(self) -> None:
        super().__init__()
        self.in_a_row = 0

    async def sign_in(self, username: str, password: str) -> CloudPosUser:
        self.calls += 1
        if self.unavailable:
            raise ServiceUnavailable("Cloud POS")
        if self.in_a_row >= 5:
            raise ServiceRefusal(403, "account_locked", "This account is locked.")
        if password != self.password:
            self.in_a_row += 1
            raise ServiceRefusal(401, "invalid_credentials", "The username or password is incorrect.")
        self.in_a_row = 0
        return CloudPosUser("u-1", "m-1", "M", username)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def cloudpos() -> LockingCloudPos:
    return LockingCloudPos()


@pytest.fixture
def budget() -> FakeSignInBudget:
    return FakeSignInBudget()


@pytest.fixture
def sessions(uow, cloudpos, budget) -> Sessions:
    clock = FakeClock()
    return Sessions(uow, clock, cloudpos, FakeKeyValidator(), RefusalLog(uow, clock), SessionLifetime(), budget,
                    Accounts(b"account-secret"))


async def test_a_stranger_spraying_an_account_never_reaches_cloud_pos_lockout(sessions, cloudpos) -> None:
    answers = [await sessions.sign_in(VICTIM, f"guess-{n}", None, f"203.0.113.{n}") for n in range(50)]

    assert cloudpos.calls == 3 and cloudpos.in_a_row == 3          # strangers: 3 of Cloud POS's 5
    assert {a.code for a in answers if isinstance(a, Refusal)} == {Code.SIGN_IN_REFUSED}
    assert len({(a.code, a.message) for a in answers}) == 1          # wrong and throttled: one answer


async def test_the_owner_signs_in_from_a_known_browser_after_a_spray_and_that_empties_the_count(
        sessions, cloudpos) -> None:
    before = await sessions.sign_in(VICTIM, "right", None, CLIENT)
    assert isinstance(before, SignedIn) and before.known_browser
    for n in range(10):
        await sessions.sign_in(VICTIM, f"guess-{n}", None, "203.0.113.9")

    new_browser = await sessions.sign_in(VICTIM, "right", None, CLIENT)
    known = await sessions.sign_in(VICTIM, "right", None, CLIENT, before.known_browser)
    again_stranger = await sessions.sign_in(VICTIM, "guess-x", None, "203.0.113.9")

    assert isinstance(new_browser, Refusal) and new_browser.code is Code.SIGN_IN_REFUSED
    assert isinstance(known, SignedIn) and cloudpos.in_a_row == 1     # the success reset Cloud POS: and us
    assert isinstance(again_stranger, Refusal) and cloudpos.calls == 1 + 3 + 1 + 1


async def test_a_known_browser_keeps_cloud_pos_one_below_its_threshold(sessions, cloudpos) -> None:
    known = (await sessions.sign_in(VICTIM, "right", None, CLIENT)).known_browser
    for n in range(10):
        await sessions.sign_in(VICTIM, f"typo-{n}", None, CLIENT, known)

    assert cloudpos.in_a_row == 4


async def test_another_spelling_of_the_account_is_the_same_budget(sessions, cloudpos) -> None:
    for spelling in ("steve@example.test", " STEVE@example.test", "Steve@Example.Test ", "steve@EXAMPLE.test"):
        await sessions.sign_in(spelling, "guess", None, CLIENT)

    assert cloudpos.calls == 3 and normalised(" Steve@Example.TEST ") == "steve@example.test"


async def test_an_unavailable_cloud_pos_costs_nothing_and_says_so(sessions, cloudpos) -> None:
    cloudpos.unavailable = True
    for _ in range(5):
        answer = await sessions.sign_in(VICTIM, "right", None, CLIENT)
    cloudpos.unavailable = False

    assert isinstance(answer, Refusal) and answer.code is Code.CLOUDPOS_UNAVAILABLE
    assert isinstance(await sessions.sign_in(VICTIM, "right", None, CLIENT), SignedIn)


async def test_an_address_with_too_many_failures_is_told_when_to_come_back(sessions, budget) -> None:
    for n in range(20):
        await sessions.sign_in(f"user{n}@example.test", "guess", None, CLIENT)

    answer = await sessions.sign_in("someone@example.test", "guess", None, CLIENT)

    assert isinstance(answer, Refusal) and answer.code is Code.SIGN_IN_THROTTLED and answer.retry_after == 600


@pytest.mark.parametrize(("username", "password"), [("", "x"), ("  ", "x"), (VICTIM, ""), ("a" * 321, "x"),
                                                    (VICTIM, "p" * 1025)])
async def test_missing_or_oversized_details_are_refused_before_any_budget_or_cloud_pos(
        sessions, cloudpos, budget, username, password) -> None:
    answer = await sessions.sign_in(username, password, None, CLIENT)

    assert isinstance(answer, Refusal) and answer.code is Code.MISSING_DETAILS
    assert cloudpos.calls == 0 and budget.accounts == {}


async def test_refused_sign_ins_are_audited_with_a_keyed_hash_never_the_username_or_password(sessions, uow) -> None:
    await sessions.sign_in(VICTIM, "secret-guess-1", None, CLIENT)
    for _ in range(3):
        await sessions.sign_in(VICTIM, "secret-guess-2", None, CLIENT)

    refused = [entry for entry in uow.committed.audit if entry[0] == "sign_in.refused"]
    text = json.dumps(refused, default=str).lower()
    assert [e[-1]["reason"] for e in refused] == ["invalid_credentials"] * 3 + ["throttled_account"]
    assert "steve" not in text and "secret-guess" not in text
    assert refused[0][-1]["account"] == Accounts(b"account-secret").key(VICTIM)[:32]


def test_settings_refuse_a_budget_that_could_drive_cloud_pos_lockout() -> None:
    with pytest.raises(ValueError, match="below cloudpos_lockout_threshold"):
        SignInSettings(failures_per_account=4, cloudpos_lockout_threshold=5)
    with pytest.raises(ValueError):
        SignInLimits.of(5, 4, SignInSettings().account_memory, 20, SignInSettings().account_memory)
    assert SignInSettings().account_memory.days >= 3650          # Cloud POS forgets only at a sign-in


def test_a_known_browser_cookie_holds_marks_not_usernames_and_only_for_its_account() -> None:
    accounts = Accounts(b"account-secret")
    cookie = accounts.remember("", accounts.key(VICTIM))

    assert "steve" not in cookie and accounts.known(cookie, accounts.key(VICTIM))
    assert not accounts.known(cookie, accounts.key("other@example.test"))
    assert not Accounts(b"another-secret").known(cookie, Accounts(b"another-secret").key(VICTIM))
    three = accounts.remember(accounts.remember(accounts.remember(cookie, "a"), "b"), "c")
    assert len(three.split(".")) == 3 and not accounts.known(three, accounts.key(VICTIM))
