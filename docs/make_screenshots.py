"""Take the screenshots of docs/teaching.md (PNG files in docs/images/).

Starts the app (``solara run channel_agents.viz.app``) on a free localhost
port and photographs it with Debian's headless chromium through Playwright,
offline (every request off localhost is aborted). Classroom games for the
debrief are prepared with the classroom API in a temporary games folder,
which the server then restores, as after a restart.

    .venv/bin/python docs/make_screenshots.py            # all images
    .venv/bin/python docs/make_screenshots.py side_by_side negotiation
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from channel_agents.viz.browser import (
    CHART,
    chromium_available,
    offline_browser,
    serve,
    wait_for_chart,
    wait_for_text,
)
from channel_agents.viz.classroom import (
    GAMES_DIR_ENV,
    INSTRUCTOR_KEY_ENV,
    SEAT_TIMEOUT_ENV,
    Classroom,
)

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
KEY = "screenshots"
BEER = str(ROOT / "configs" / "beer_game.yaml")


def settle(page, charts: int) -> None:
    """Wait until ``charts`` charts are drawn and the page has stopped changing."""
    wait_for_chart(page)
    deadline = time.monotonic() + 60
    while page.locator(CHART).count() < charts:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {page.locator(CHART).count()} of {charts} charts drawn")
        time.sleep(0.2)
    time.sleep(1.5)  # vega's last paint


def clip_between(page, path: Path, first, last, pad: int = 12, left: float | None = None) -> None:
    """Screenshot the page from the top of ``first`` to the bottom of ``last``."""
    a, b = first.bounding_box(), last.bounding_box()
    x0 = (min(a["x"], b["x"]) if left is None else left) - pad
    x1 = max(a["x"] + a["width"], b["x"] + b["width"]) + pad
    y0, y1 = a["y"] - pad, b["y"] + b["height"] + pad
    page.screenshot(
        path=str(path), clip={"x": max(x0, 0), "y": max(y0, 0), "width": x1 - x0, "height": y1 - y0}
    )
    print(f"wrote {path.relative_to(ROOT)}")


def chart(page, i: int):
    return page.locator(".vega-embed").nth(i)


# ---------------------------------------------------------------------------- the shots
def side_by_side(url: str, browser) -> None:
    page = browser.new_page(1600, 1180)
    page.goto(url + "?scenario=three_tier&compare=1&step=60")
    wait_for_text(page, "Period 60 of 220")
    settle(page, 7)
    page.screenshot(path=str(IMAGES / "viz_side_by_side.png"))
    print("wrote docs/images/viz_side_by_side.png")
    page.close()


def beer_game(url: str, browser) -> None:
    page = browser.new_page(1600, 2400)
    page.goto(url + "?scenario=beer_game&step=36")
    wait_for_text(page, "Period 36 of 36")
    settle(page, 6)
    header = page.get_by_text("Period 36 of 36").first
    clip_between(page, IMAGES / "teaching_beer_game.png", header, chart(page, 2))
    page.close()


def double_marginalization(url: str, browser) -> None:
    page = browser.new_page(1600, 2400)
    page.goto(url + "?scenario=theory/double_marginalization&compare=1&step=12")
    wait_for_text(page, "Period 12 of 60")
    settle(page, 7)
    header = page.get_by_text("Period 12 of 60").first
    clip_between(page, IMAGES / "teaching_double_marginalization.png", header, chart(page, 1))
    clip_between(page, IMAGES / "teaching_margins.png", chart(page, 4), chart(page, 4))
    page.close()


def cooperation(url: str, browser) -> None:
    page = browser.new_page(1600, 2600)
    page.goto(url + "?scenario=three_tier&compare=1&step=120")
    wait_for_text(page, "Period 120 of 220")
    settle(page, 7)
    clip_between(page, IMAGES / "teaching_cooperation.png", chart(page, 2), chart(page, 3))
    page.close()


def negotiation(url: str, browser) -> None:
    page = browser.new_page(1600, 2800)
    page.goto(url + "?scenario=theory/bargaining_alternating&step=5")
    wait_for_text(page, "Kalai-Smorodinsky point")
    settle(page, 7)
    heading = page.get_by_text("Negotiation", exact=True).first
    clip_between(page, IMAGES / "teaching_negotiation.png", heading, chart(page, 6))
    page.close()


def prepare_classroom(folder: Path) -> dict[str, str]:
    """Two finished beer games (a panicky team and robots) and one running game with a
    student seat; returns that student's key."""
    room = Classroom(folder, timeout=600, instructor_key=KEY)
    panic = room.create_game(BEER, name="Team Panic", seats=["wholesaler", "retailer"])
    keys = {m: room.join(panic.seats[m].code, n) for m, n in (("wholesaler", "Ann"), ("retailer", "Bob"))}  # fmt: skip
    room.start(panic.id)
    for t in range(1, 37):
        # order what came in, and double it while the backlog grows: the classic panic
        for member in ("retailer", "wholesaler"):
            obs = room.seat_view(keys[member])["observation"]
            order = obs["incoming"] * (2 if obs["backlog"] > 0 else 1) + (4 if t in (5, 6) else 0)
            room.submit(keys[member], t, round(order))
    robots = room.create_game(BEER, name="Team Robots")
    room.start(robots.id)
    while robots.status != "ended":
        room.close_period(robots.id)
    live = room.create_game(BEER, name="Team Live", seats=["wholesaler"])
    key = room.join(live.seats["wholesaler"].code, "Cy")
    room.start(live.id)
    for t, order in enumerate((4, 4, 6, 8, 8), start=1):
        room.submit(key, t, order)
    return {"student": key}


def classroom(url: str, browser, keys: dict[str, str]) -> None:
    student = browser.new_page(1100, 1250)
    student.goto(url + f"play?key={keys['student']}")
    wait_for_text(student, "Period 6 of 36")
    settle(student, 1)
    student.screenshot(path=str(IMAGES / "teaching_student_seat.png"))
    print("wrote docs/images/teaching_student_seat.png")
    student.close()
    inst = browser.new_page(1500, 2600)
    inst.goto(url + f"classroom?key={KEY}")
    wait_for_text(inst, "Debrief")
    settle(inst, 1)
    debrief = inst.get_by_text("Debrief", exact=True).first
    last = inst.locator(".v-data-table").last
    clip_between(inst, IMAGES / "teaching_debrief.png", debrief, last)
    games = inst.get_by_text("Games (3)").first
    last_card = inst.locator(".v-card", has_text="Team Panic (beer_game)").last
    clip_between(inst, IMAGES / "teaching_instructor.png", games, last_card)
    inst.close()


SHOTS: dict[str, Callable] = {
    "side_by_side": side_by_side,
    "beer_game": beer_game,
    "double_marginalization": double_marginalization,
    "cooperation": cooperation,
    "negotiation": negotiation,
}


def main(argv: list[str]) -> int:
    if not chromium_available():
        print("needs Debian's chromium: apt-get install -y chromium", file=sys.stderr)
        return 2
    wanted = argv or [*SHOTS, "classroom"]
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshot-games-") as tmp:
        keys = prepare_classroom(Path(tmp)) if "classroom" in wanted else {}
        env = {GAMES_DIR_ENV: tmp, INSTRUCTOR_KEY_ENV: KEY, SEAT_TIMEOUT_ENV: "600"}
        with serve(env, cwd=ROOT) as server, offline_browser() as browser:
            for name in wanted:
                if name == "classroom":
                    classroom(server.url, browser, keys)
                else:
                    SHOTS[name](server.url, browser)
            if browser.blocked:
                print(f"warning: requests off localhost were blocked: {browser.blocked}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
