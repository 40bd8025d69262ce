"""The stores page and the disconnect confirmation as rendered HTML: fast, no server. What a screen reader user
and a keyboard user meet: each control's accessible name, refusals next to what they refuse, focus where to retry.
(The same pages over real HTTP: test_sessions, test_selection, test_disconnect; in Chromium with axe-core:
tests/e2e/test_browser_journey.py.)"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from uuid import uuid4

from starlette.requests import Request

from oauth_gateway.domain import refusals
from oauth_gateway.domain.health import Health, StoreHealth
from oauth_gateway.domain.model import StoreRef, WebSession
from oauth_gateway.entrypoints.problems import problem_of
from oauth_gateway.entrypoints.web import Web
from oauth_gateway.merchant.disconnect import Disconnecting
from oauth_gateway.merchant.summary import Summary
from oauth_gateway.settings import example_settings

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ORG_A, ORG_B = uuid4(), uuid4()
STORES = (StoreRef("s-1", "Steve Test Store"), StoreRef("s-2", "Steve Test Store 2"),
          StoreRef("s-3", "Steve Outlet Store"), StoreRef("s-4", "Steve's Pop-up"))
SESSION = WebSession(hashlib.sha256(b"sid").digest(), "u-1", "m-1", "Steve's Cycles", "Steve Rider", NOW, NOW, STORES,
                     "Xero API Client")
VOID = {"input", "meta", "link", "br", "img", "hr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list["Node"] = field(default_factory=list)
    text: str = ""

    def all(self, tag: str) -> list["Node"]:
        found = [self] if self.tag == tag else []
        return found + [n for c in self.children for n in c.all(tag)]

    def words(self) -> str:
        return " ".join((self.text + " " + " ".join(c.words() for c in self.children)).split())

    def by_id(self, wanted: str) -> "Node | None":
        return next((n for n in self.all_nodes() if n.attrs.get("id") == wanted), None)

    def all_nodes(self) -> list["Node"]:
        return [self] + [n for c in self.children for n in c.all_nodes()]


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Node("root", {})
        self._open = [self.root]

    def handle_starttag(self, tag: str, attrs: list) -> None:
        node = Node(tag, dict(attrs))
        self._open[-1].children.append(node)
        if tag not in VOID:
            self._open.append(node)

    def handle_endtag(self, tag: str) -> None:
        while len(self._open) > 1 and self._open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self._open[-1].text += data


def _page(template: str, status: int = 200, **context: object) -> Node:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", b"cpx_setup=c")]})
    response = Web(example_settings()).page(request, template, status, session=SESSION, **context)
    tree = _Tree()
    tree.feed(response.body.decode())
    return tree.root


def _health(store: StoreRef, tenant, health: Health = Health.CONNECTED) -> StoreHealth:  # noqa: ANN001
    return StoreHealth(store.store_id, store.name, tenant, "Steve's Cycles Ltd", health)


def _summary(**kwargs) -> Summary:  # noqa: ANN003
    return Summary(available=True, **kwargs)


def _stores(summary: Summary, **context: object) -> Node:
    return _page("home.html", summary=summary, **({"flash": None, "key_problem": None, "store_problem": None,
                                                    "refused_store": None} | context))


def _row(page: Node, store: str) -> Node:
    """The store's row in "Your stores" (the reconnect banner has rows of its own)."""
    table = next(t for t in page.all("table") if t.attrs.get("aria-labelledby") == "stores-heading")
    return next(r for r in table.all("tr") if any(h.words() == store for h in r.all("th")))


def _names(node: Node, tag: str = "button") -> list[str]:
    return [n.attrs.get("aria-label") or n.words() for n in node.all(tag)]


def test_each_store_offers_one_action_named_after_it_and_connected_stores_never_offer_connect_to_xero() -> None:
    s1, s2, s3, s4 = STORES
    summary = _summary(health=(_health(s1, ORG_A), _health(s2, ORG_A, Health.RECONNECT_NEEDED)),
                       store_states={"s-3": {"store_id": "s-3", "state": "disconnected"},
                                     "s-1": {"store_id": "s-1", "state": "connected"}},
                       organisations=[{"tenant_id": str(ORG_A), "organisation_name": "Steve's Cycles Ltd",
                                       "stores": [{"store_id": "s-1", "name": s1.name}]}])

    page = _stores(summary)

    assert _names(_row(page, s1.name)) == ["Change organisation for Steve Test Store"]
    assert [b.words() for b in _row(page, s1.name).all("button")] == ["Change organisation"]
    assert "Connected to Steve's Cycles Ltd" in _row(page, s1.name).words()
    assert _names(_row(page, s2.name)) == ["Reconnect Steve Test Store 2 to Xero"]
    assert _names(_row(page, s3.name)) == ["Connect to Xero for Steve Outlet Store"]
    assert "Disconnected" in _row(page, s3.name).words()
    assert _names(_row(page, s4.name)) == ["Connect to Xero for Steve's Pop-up"]
    assert len({tuple(_names(_row(page, store.name))) for store in STORES}) == len(STORES)
    assert "Disconnect from Xero: Steve's Cycles Ltd" in _names(page)


def test_a_store_the_registry_still_calls_connected_but_ended_here_reads_disconnected() -> None:
    """The gateway unlinks at once; the registry hears of it through Kafka a moment later."""
    page = _stores(_summary(store_states={"s-1": {"store_id": "s-1", "state": "connected"}}))

    assert "Disconnected" in _row(page, STORES[0].name).words()
    assert _names(_row(page, STORES[0].name)) == ["Connect to Xero for Steve Test Store"]


def test_i_have_finished_is_offered_only_once_a_store_is_connected() -> None:
    def finish_buttons(summary: Summary) -> int:
        return sum(b.words() == "I have finished connecting stores" for b in _stores(summary).all("button"))

    assert finish_buttons(_summary()) == 0
    assert finish_buttons(_summary(store_states={"s-1": {"store_id": "s-1", "state": "disconnected"}})) == 0
    assert finish_buttons(_summary(health=(_health(STORES[0], ORG_A),))) == 1        # registry not told yet
    assert finish_buttons(_summary(organisations=[{"tenant_id": str(ORG_A), "organisation_name": "A",
                                                   "stores": [{"store_id": "s-1", "name": "x"}]}])) == 1
    assert finish_buttons(Summary(available=False, health=(_health(STORES[0], ORG_A),))) == 1


def test_a_refused_key_is_shown_at_the_field_which_keeps_focus_and_describes_itself_with_it() -> None:
    problem = problem_of(refusals.key_refused(403, "key_for_other_service", "This key was issued for Bike Rental "
                                                                             "Manager."))

    page = _stores(_summary(), key_problem=problem)

    field = next(i for i in page.all("input") if i.attrs.get("name") == "api_key")
    assert field.attrs["aria-invalid"] == "true" and "autofocus" in field.attrs
    error = page.by_id("api_key-error")
    assert error is not None and error.attrs["id"] in (field.attrs["aria-describedby"] or "").split()
    assert "Bike Rental Manager" in error.words() and error.attrs["data-code"] == "key_for_other_service"
    form = next(f for f in page.all("form") if f.attrs["action"] == "/key")
    assert error in form.all("p") and _names(form) == ["Validate Cloud POS API Key"]   # ready to try again
    assert page.all("title")[0].words().startswith("Error:")


def test_an_unrefused_key_field_has_no_error_and_no_autofocus() -> None:
    field = next(i for i in _stores(_summary()).all("input") if i.attrs.get("name") == "api_key")

    assert "aria-invalid" not in field.attrs and "autofocus" not in field.attrs
    assert "api_key-error" not in (field.attrs.get("aria-describedby") or "")


def test_a_refused_organisation_is_shown_in_its_stores_row_with_its_connect_button_focused() -> None:
    problem = problem_of(refusals.subscription_refused("'Steve Starter Ltd' is on Xero's Starter plan.", "s-3"))

    page = _stores(_summary(), store_problem=problem, refused_store="s-3")

    row = _row(page, "Steve Outlet Store")
    [button] = row.all("button")
    error = page.by_id(button.attrs["aria-describedby"] or "")
    assert error is not None and error in row.all("p") and "Starter plan" in error.words()
    assert "This Xero organisation cannot be connected" in error.words()
    assert "autofocus" in button.attrs and button.attrs["aria-label"] == "Connect to Xero for Steve Outlet Store"
    for other in ("Steve Test Store", "Steve Test Store 2"):
        assert not _row(page, other).all("p") and "aria-describedby" not in _row(page, other).all("button")[0].attrs


def test_disconnect_from_xero_on_the_stores_page_only_opens_its_confirmation() -> None:
    summary = _summary(organisations=[{"tenant_id": str(ORG_A), "organisation_name": "Steve Test Store",
                                       "stores": [{"store_id": "s-1", "name": "Steve Test Store"},
                                                  {"store_id": "s-2", "name": "Steve Test Store 2"}]}])

    [form] = [f for f in _stores(summary).all("form") if "/disconnect" in f.attrs["action"]]

    assert (form.attrs["method"], form.attrs["action"]) == ("get", f"/organisations/{ORG_A}/disconnect")
    assert not form.all("input") and _names(form) == ["Disconnect from Xero: Steve Test Store"]


def test_the_confirmation_lists_the_stores_says_what_happens_and_posts_with_the_csrf_token() -> None:
    page = _page("disconnect.html", organisation=Disconnecting(ORG_A, "Steve Test Store",
                                                               ("Steve Test Store", "Steve Test Store 2")))

    assert [li.words() for li in page.all("li")] == ["Steve Test Store", "Steve Test Store 2"]
    words = page.words()
    assert "will disconnect all Cloud POS stores associated with the Xero organisation 'Steve Test Store'" in words
    assert "you will need to connect that store again" in words
    [form] = [f for f in page.all("form") if f.attrs["action"] == f"/organisations/{ORG_A}/disconnect"]
    assert form.attrs["method"] == "post"
    assert [i.attrs["name"] for i in form.all("input")] == ["csrf_token"]
    assert _names(form) == ["Disconnect from Xero: Steve Test Store"]
    assert [(a.attrs["href"], a.words()) for a in form.all("a")] == [("/", "Cancel")]
    assert [h.words() for h in page.all("h1")] == ["Disconnect 'Steve Test Store' from Xero?"]


def test_every_page_has_a_viewport_a_language_landmarks_and_one_heading() -> None:
    pages = [_stores(_summary()), _page("disconnect.html", organisation=Disconnecting(ORG_B, "B", ("S",))),
             _page("signin.html"), _page("problem.html", problem=problem_of(refusals.not_connected()))]
    for page in pages:
        assert page.all("html")[0].attrs["lang"] == "en"
        assert any(m.attrs.get("name") == "viewport" and "width=device-width" in (m.attrs.get("content") or "")
                   for m in page.all("meta"))
        assert len(page.all("main")) == 1 and len(page.all("header")) == 1 and len(page.all("h1")) == 1
