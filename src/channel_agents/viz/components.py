"""Small Solara components shared by the pages (no page imports here)."""

from __future__ import annotations

from typing import Any

import solara
import solara.widgets


@solara.component
def VegaChart(spec: dict[str, Any]):
    """An Altair chart, as the Vega-Lite spec charts.py builds."""
    return solara.widgets.VegaLite.element(spec=spec, listen_to_click=False, listen_to_hover=False)


MD_CSS = """
.ca-md table { border-collapse: collapse; margin: 4px 0 8px 0; }
.ca-md th, .ca-md td { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; }
.ca-md th:first-child, .ca-md td:first-child { text-align: left; }
.ca-md p { margin: 4px 0; }
.ca-md h1, .ca-md h2, .ca-md h3 { margin: 8px 0 4px 0; font-weight: 500; }
.ca-md code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; }
"""


@solara.component
def Md(text: str, style: str = ""):
    """Markdown rendered on the server (solara.Markdown would load KaTeX from a CDN).

    The text is trusted markup: escape anything a user typed (:func:`html.escape`).
    """
    import markdown

    html = markdown.markdown(text, extensions=["tables"])
    return solara.HTML(tag="div", unsafe_innerHTML=html, classes=["ca-md"], style=style or None)
