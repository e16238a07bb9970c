"""Offline JavaScript for the browser page.

The page loads its JavaScript through Solara's ``/_solara/cdn`` proxy, which
serves files from ``{sys.prefix}/share/solara/cdn`` before asking a public CDN.
``pip install solara-assets`` fills that folder with versioned copies
(``vega@5.21.0`` ...), but Solara's Altair widget asks for the major-version
paths ``vega@5``, ``vega-lite@5`` and ``vega-embed@6``. This module creates
those as copies of the newest versioned folder of the same major version, so
the page works with no internet (a classroom with a poor connection, a test
with every outside request blocked).

Run it once after installing: ``python -m channel_agents.viz.assets``
(``make install`` does).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

#: package name -> the major version Solara's Altair widget asks for.
MAJOR_VERSIONS: dict[str, int] = {"vega": 5, "vega-lite": 5, "vega-embed": 6}
#: the file each copy must hold for the page to work.
ENTRY_FILES: dict[str, str] = {
    "vega": "build/vega.min.js",
    "vega-lite": "build/vega-lite.min.js",
    "vega-embed": "build/vega-embed.min.js",
}


class AssetsError(RuntimeError):
    """A major-version folder could not be made (solara-assets missing or incomplete)."""


def cdn_dir() -> Path:
    """Where Solara looks for cached CDN files (``{sys.prefix}/share/solara/cdn``)."""
    return Path(sys.prefix) / "share" / "solara" / "cdn"


def _version_key(folder: Path, package: str) -> tuple[int, ...]:
    text = folder.name[len(package) + 1 :]
    return tuple(int(p) for p in re.findall(r"\d+", text))


def ensure_major_version_assets(cdn: Path | None = None) -> dict[str, Path]:
    """Create ``vega@5``, ``vega-lite@5``, ``vega-embed@6`` in ``cdn`` (idempotent).

    Returns the folder of each package. Raises :class:`AssetsError` when no
    versioned folder of the right major version exists (install solara-assets).
    """
    cdn = cdn_dir() if cdn is None else Path(cdn)
    made: dict[str, Path] = {}
    for package, major in MAJOR_VERSIONS.items():
        target = cdn / f"{package}@{major}"
        entry = ENTRY_FILES[package]
        if (target / entry).is_file():
            made[package] = target
            continue
        pattern = re.compile(rf"^{re.escape(package)}@{major}\.\d+(\.\d+)?$")
        versions = [p for p in cdn.glob(f"{package}@{major}.*") if pattern.match(p.name)]
        versions = [p for p in versions if (p / entry).is_file()]
        if not versions:
            raise AssetsError(
                f"no {package}@{major}.x folder with {entry} in {cdn}: "
                "install solara-assets (pip install solara-assets, or make install)"
            )
        newest = max(versions, key=lambda p: _version_key(p, package))
        tmp = cdn / f".{package}@{major}.partial"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(newest, tmp)
        if target.exists():  # an incomplete earlier copy
            shutil.rmtree(target)
        tmp.rename(target)
        made[package] = target
    return made


def missing_assets(cdn: Path | None = None) -> list[str]:
    """The major-version entry files that are not there (empty when the page works offline)."""
    cdn = cdn_dir() if cdn is None else Path(cdn)
    return [
        f"{package}@{major}/{ENTRY_FILES[package]}"
        for package, major in MAJOR_VERSIONS.items()
        if not (cdn / f"{package}@{major}" / ENTRY_FILES[package]).is_file()
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m channel_agents.viz.assets",
        description="Create the vega@5, vega-lite@5 and vega-embed@6 folders Solara's "
        "offline page needs, from the versioned folders solara-assets ships.",
    )
    parser.add_argument("--cdn", type=Path, help=f"the CDN cache folder (default {cdn_dir()})")
    args = parser.parse_args(argv)
    try:
        made = ensure_major_version_assets(args.cdn)
    except (AssetsError, OSError) as exc:
        print(f"channel-agents: error: {exc}", file=sys.stderr)
        return 2
    for package, path in made.items():
        print(f"{package}: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
