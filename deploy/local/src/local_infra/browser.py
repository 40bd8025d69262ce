"""A tiny scripted browser: a cookie jar, manual redirects, and HTML form submission.

The gateway tests and bench.journey walk the merchant's pages with it. Forms are read from the served HTML,
so a test that submits a form proves the page offers it (with its CSRF token and exact button text).
"""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    selects: dict[str, list[tuple[str, str]]] = field(default_factory=dict)   # name -> [(value, label)]
    buttons: list[tuple[str | None, str | None, str]] = field(default_factory=list)  # (name, value, text)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None
        self._option: str | None = None
        self._button: dict | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), (a.get("method") or "get").lower()))
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.forms[-1].fields[a["name"]] = a.get("value") or ""
        elif tag == "select" and self.forms:
            self._select = a.get("name")
            self.forms[-1].selects[self._select or ""] = []
        elif tag == "option" and self._select is not None:
            self._option = a.get("value", "")
            self.forms[-1].selects[self._select].append((self._option, ""))
        elif tag == "button" and self.forms:
            self._button = {"name": a.get("name"), "value": a.get("value"), "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "option":
            self._option = None
        elif tag == "button" and self._button is not None:
            b = self._button
            self.forms[-1].buttons.append((b["name"], b["value"], b["text"].strip()))
            self._button = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._button is not None:
            self._button["text"] += data
        if self._option is not None and self._select is not None:
            options = self.forms[-1].selects[self._select]
            value, label = options[-1]
            options[-1] = (value, (label + data).strip())


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def text_of(html: str) -> str:
    parser = _FormParser()
    parser.feed(html)
    return " ".join(" ".join(parser.text).split())


class Browser:
    """Follows redirects by hand so a test can stop at (or tamper with) any hop."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=30)
        self.page: httpx.Response | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def get(self, url: str, *, follow: bool = True) -> httpx.Response:
        return await self._go(await self.http.get(url), follow)

    async def submit(self, button_text: str, fill: dict[str, str] | None = None, *, follow: bool = True,
                     within: str | None = None) -> httpx.Response:
        """Press the button with this exact text on the current page (optionally in the form posting to `within`)."""
        assert self.page is not None
        for form in forms_of(self.page.text):
            for name, value, text in form.buttons:
                if text == button_text and (within is None or within in form.action):
                    data = dict(form.fields)
                    for select, options in form.selects.items():
                        data.setdefault(select, options[0][0] if options else "")
                    data.update(fill or {})
                    if name:
                        data[name] = value or ""
                    url = urljoin(str(self.page.url), form.action)
                    if form.method == "get":          # e.g. "Disconnect from Xero": it opens its confirmation
                        return await self._go(await self.http.get(url, params=data), follow)
                    return await self._go(await self.http.post(url, data=data), follow)
        raise AssertionError(f"no button {button_text!r} on {self.page.url}: {text_of(self.page.text)[:500]}")

    async def post(self, url: str, data: dict[str, str], *, follow: bool = True,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        return await self._go(await self.http.post(url, data=data, headers=headers), follow)

    async def _go(self, response: httpx.Response, follow: bool) -> httpx.Response:
        while follow and response.is_redirect:
            response = await self.http.get(urljoin(str(response.url), response.headers["location"]))
        self.page = response
        return response

    def options(self, select: str = "tenant_id") -> list[tuple[str, str]]:
        assert self.page is not None
        return next(f.selects[select] for f in forms_of(self.page.text) if select in f.selects)

    def text(self) -> str:
        assert self.page is not None
        return text_of(self.page.text)
