"""Every merchant page of the browser journey, checked as it stands: axe-core (pinned in package.json, installed
by tools/bootstrap.sh) at 1280 px and at 375 px, failing on any serious or critical violation, and at 375 px no
horizontal scroll and every control within the screen. Screenshots at both widths; each page's findings, of
any impact, in artifacts/e2e/axe.json.

axe.min.js is evaluated in the page through the DevTools protocol, so the gateway's Content-Security-Policy
(no scripts at all) stays on: the pages are checked as a merchant's browser gets them.
"""

import json
import time
from pathlib import Path

from playwright.async_api import Page

AXE_JS = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
FAILING = ("serious", "critical")
_RUN = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"""
# Visible controls sticking out of the screen (the skip link waits off-screen until focused: not counted).
_OFF_SCREEN = """() => { const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll('a, button, input, select, textarea, label, h1, h2, h3, td, th, p')]
      .filter(e => !e.closest('.skip, .visually-hidden, thead') && e.getClientRects().length)
      .filter(e => { const r = e.getBoundingClientRect(); return r.left < -0.5 || r.right > width + 0.5; })
      .map(e => e.outerHTML.slice(0, 120)); }"""
_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def _axe_source() -> str:
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: run tools/bootstrap.sh (npm ci in tests/e2e)")
    return AXE_JS.read_text()


async def axe(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now (of every impact)."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())
    return await page.evaluate(_RUN)


async def check_page(page: Page, name: str, artifacts: Path) -> None:
    """axe-core at both widths, the 375 px layout, and the screenshots `name.png` (1280) and `name-375.png`."""
    found: dict[str, list[dict]] = {}
    started = time.monotonic()
    try:
        for width, size in (("1280", DESKTOP), ("375", PHONE)):
            await page.set_viewport_size(size)
            if size is PHONE:
                assert await page.evaluate(_OVERFLOW) <= 0, f"{name}: scrolls sideways at 375 px"
                assert await page.evaluate(_OFF_SCREEN) == [], f"{name}: off the 375 px screen"
            found[width] = await axe(page)
            await page.screenshot(path=artifacts / (f"{name}.png" if size is DESKTOP else f"{name}-375.png"),
                                  full_page=True)
    finally:
        await page.set_viewport_size(DESKTOP)
    _record(artifacts, name, page.url, found, time.monotonic() - started)
    serious = [f"{width} px: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
               for width, violations in found.items() for v in violations if v["impact"] in FAILING]
    assert not serious, f"axe-core on {name} ({page.url}):\n" + "\n".join(serious)


def _record(artifacts: Path, name: str, url: str, found: dict[str, list[dict]], seconds: float) -> None:
    report = artifacts / "axe.json"
    pages = json.loads(report.read_text()) if report.exists() else {}
    pages[name] = {"url": url, "seconds": round(seconds, 2), "violations": found}
    report.write_text(json.dumps(pages, indent=1))
