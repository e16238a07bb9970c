"""The browser app in a real browser, offline.

``solara run channel_agents.viz.app`` is started in a subprocess on a free
localhost port and driven by Debian's headless chromium through Playwright;
every request to a host other than 127.0.0.1/localhost is aborted, so a page
that needs the internet fails. Each test asserts that charts were drawn
(``.vega-embed svg``): a blank page fails.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import pytest

pytest.importorskip("solara")
pytest.importorskip("playwright")

from channel_agents.viz.browser import (  # noqa: E402
    CHART,
    chromium_available,
    offline_browser,
    serve,
    wait_for_chart,
    wait_for_text,
)
from channel_agents.viz.classroom import (  # noqa: E402
    GAMES_DIR_ENV,
    INSTRUCTOR_KEY_ENV,
    SEAT_TIMEOUT_ENV,
)

ROOT = Path(__file__).resolve().parents[1]
KEY = "teach-me"
SEAT_TIMEOUT = 1.5

pytestmark = pytest.mark.skipif(
    not chromium_available(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    games = tmp_path_factory.mktemp("games")
    env = {
        GAMES_DIR_ENV: str(games),
        INSTRUCTOR_KEY_ENV: KEY,
        SEAT_TIMEOUT_ENV: str(SEAT_TIMEOUT),
    }
    with serve(env, cwd=ROOT) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    with offline_browser() as b:
        yield b


@pytest.fixture
def page(browser):
    p = browser.new_page(1500, 1400)
    yield p
    p.close()


def _charts_html(page) -> str:
    """What the charts show now (Vega draws on canvas here; svg if it did)."""
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.vega-embed canvas'))"
        ".map(c => c.toDataURL()).join('') + Array.from(document.querySelectorAll("
        "'.vega-embed svg.marks')).map(e => e.outerHTML).join('')"
    )


def _inked(page) -> list[int]:
    """Per chart canvas: how many pixels are drawn in a colour other than white."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.vega-embed canvas')).map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4)
                if (d[i + 3] > 0 && (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240)) n++;
            return n;
        })"""
    )


def _wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _period_shown(page) -> int:
    found = re.search(r"Period (\d+) of", page.inner_text("body"))
    return int(found.group(1)) if found else 0


def _click(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def test_page_renders_charts_with_no_internet(server, browser, page):
    page.goto(server.url)
    wait_for_chart(page)
    wait_for_text(page, "Period 0 of 220")
    _wait_until(lambda: page.locator(CHART).count() >= 6, what="six charts")
    # the channel drawing is drawn (not a blank canvas): thousands of coloured pixels
    _wait_until(lambda: max(_inked(page)) > 2000, what="ink on the channel drawing")
    assert browser.blocked == [], f"the page asked the internet for {browser.blocked}"
    assert "Could not load URL" not in server.output(), "the server fetched from a CDN"


def test_step_advances_the_period_and_changes_the_charts(server, page):
    page.goto(server.url)
    wait_for_chart(page)
    wait_for_text(page, "Period 0 of")
    before = _charts_html(page)
    _click(page, "Step")
    wait_for_text(page, "Period 1 of")
    _wait_until(lambda: _charts_html(page) != before, what="the charts to change")
    _click(page, "Step")
    wait_for_text(page, "Period 2 of")


def test_switching_strategy_reruns_the_model(server, page):
    page.goto(server.url + "?scenario=three_tier&step=3")
    wait_for_chart(page)
    wait_for_text(page, "Period 3 of 220")
    wait_for_text(page, "strategy: siloed")
    table = page.locator("table").first
    siloed = table.inner_text()
    charts = _charts_html(page)
    _click(page, "cooperative")
    wait_for_text(page, "strategy: cooperative")
    wait_for_text(page, "Period 3 of 220")  # re-run to the same period
    _wait_until(lambda: page.locator("table").first.inner_text() != siloed, what="new numbers")
    _wait_until(lambda: _charts_html(page) != charts, what="new charts")


def test_side_by_side_and_negotiation(server, page):
    page.goto(server.url + "?scenario=theory/bargaining_alternating&compare=1&step=2")
    wait_for_chart(page)
    wait_for_text(page, "siloed and cooperative side by side")
    wait_for_text(page, "Kalai-Smorodinsky point: price 36")
    _wait_until(lambda: page.locator(CHART).count() >= 8, what="two drawings and the bargain")


def _codes(card) -> dict[str, str]:
    out = {}
    for member in ("factory", "distributor", "wholesaler", "retailer"):
        row = card.locator("tr", has=card.page.locator("td", has_text=member)).first
        out[member] = row.locator("code").inner_text().strip()
    return out


def _join(browser, url: str, code: str, name: str):
    p = browser.new_page(1100, 1300)
    p.goto(url + "play")
    p.get_by_label("Join code").fill(code)
    p.get_by_label("Your name").fill(name)
    _click(p, "Join")
    return p


def _order(p, value: str) -> None:
    p.get_by_label("Your order (units)").fill(value)
    _click(p, "Submit order")


def _open_game(inst, name: str, timeout: float | None = None) -> dict[str, str]:
    inst.get_by_label("Team name").fill(name)
    if timeout is not None:
        field = inst.get_by_label("Seat timeout (seconds)")
        field.fill(str(timeout))
        field.press("Enter")
    _click(inst, "Open game")
    wait_for_text(inst, f"{name} (beer_game): lobby")
    card = inst.locator(".v-card", has_text=f"{name} (beer_game)").first
    return _codes(card)


def test_classroom_two_students_order_and_a_robot_fills_an_idle_seat(server, browser, page):
    inst = page
    inst.goto(server.url + "classroom")
    inst.get_by_label("Instructor key").fill("wrong")
    _click(inst, "Enter")
    wait_for_text(inst, "Wrong instructor key")
    inst.get_by_label("Instructor key").fill(KEY)
    _click(inst, "Enter")
    wait_for_text(inst, "Open a game")
    # game 1: two students, time enough to think
    codes = _open_game(inst, "Slow team", timeout=60)
    # game 2 on the same server, with a short timeout
    robot_codes = _open_game(inst, "Robot team", timeout=SEAT_TIMEOUT)
    ann = _join(browser, server.url, codes["wholesaler"], "Ann")
    bob = _join(browser, server.url, codes["retailer"], "Bob")
    eve = _join(browser, server.url, codes["retailer"], "Eve")  # a seat someone holds
    cy = _join(browser, server.url, robot_codes["distributor"], "Cy")
    try:
        wait_for_text(ann, "You are the wholesaler")
        wait_for_text(bob, "You are the retailer")
        wait_for_text(eve, "already taken")
        wait_for_text(cy, "You are the distributor")
        wait_for_text(ann, "Waiting for your instructor")
        for card_name in ("Slow team", "Robot team"):
            card = inst.locator(".v-card", has_text=f"{card_name} (beer_game)").first
            card.get_by_role("button", name="Start", exact=True).click()
            wait_for_text(inst, f"{card_name} (beer_game): running")
        wait_for_text(ann, "Period 1 of 36")
        wait_for_text(bob, "Period 1 of 36")
        # bad input is a message in the page, never a server error
        _order(ann, "lots")
        wait_for_text(ann, "is not a number")
        _order(ann, "-4")
        wait_for_text(ann, "Orders must be 0 or more")
        _order(ann, "8")
        wait_for_text(ann, "Order of 8 units received for period 1")
        _order(bob, "5")
        wait_for_text(bob, "Period 2 of 36")
        wait_for_text(ann, "Period 2 of 36")
        wait_for_chart(ann)  # the student's own orders
        assert "key=" in ann.url  # a reload keeps the seat
        ann.reload()
        wait_for_text(ann, "You are the wholesaler")
        wait_for_text(ann, "Period 2 of 36")
        # Cy never orders: after the timeout a robot orders for him, period after period
        _wait_until(lambda: _period_shown(cy) >= 3, timeout=30, what="robot-filled periods")
        wait_for_text(cy, "robot")  # his history says who ordered
        row = (
            inst.locator(".v-card", has_text="Robot team (beer_game)")
            .first.locator("tr", has=inst.locator("td", has_text="distributor"))
            .first
        )
        _wait_until(lambda: int(row.inner_text().split()[-1]) >= 2, what="idle periods")
        wait_for_chart(inst)  # the debrief
    finally:
        for p in (ann, bob, eve, cy):
            p.close()


def test_200_member_channel_responds_to_step(server, page):
    page.goto(server.url + "?scenario=layered_200")
    wait_for_chart(page, timeout=90_000)
    wait_for_text(page, "Period 0 of 100")
    _wait_until(lambda: page.locator(CHART).count() >= 6, what="six charts")
    times = []
    for t in range(1, 4):
        before = _charts_html(page)
        start = time.monotonic()
        _click(page, "Step")
        wait_for_text(page, f"Period {t} of 100")
        _wait_until(lambda b=before: _charts_html(page) != b, what="redrawn charts")
        times.append(time.monotonic() - start)
    median = statistics.median(times)
    print(f"\n200-member channel in the browser: Step to redrawn charts, median {median:.2f} s")
    assert median < 10.0
