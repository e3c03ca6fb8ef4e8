"""Text that becomes HTML: markdown of descriptions and ``.md`` artifacts, ``models:/m-...`` links.

markdown-it-py renders CommonMark (plus tables and strikethrough) with raw HTML disabled, and nh3
(the Ammonia sanitiser) then keeps only its allow-list of tags and attributes, and only http(s)
and mailto links, which open with ``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

import re
from functools import cache

from markupsafe import Markup, escape

URL_SCHEMES = {"http", "https", "mailto"}


@cache
def _parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def render_markdown(text: str | None) -> Markup:
    """``text`` as sanitised HTML (an empty string for no text)."""
    if not text:
        return Markup("")
    import nh3

    html = _parser().render(text)
    return Markup(nh3.clean(html, url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow"))


_LOGGED_MODEL_URI = re.compile(r"models:/(m-[0-9a-f]{32})\b")


def link_logged_models(text: str | None) -> Markup:
    """``text`` escaped, with every ``models:/m-<id>`` a link to that logged model's page."""
    if not text:
        return Markup("")
    out, last = [], 0
    for match in _LOGGED_MODEL_URI.finditer(text):
        out.append(escape(text[last : match.start()]))
        out.append(Markup('<a href="/logged-models/{}">{}</a>').format(match.group(1), match.group(0)))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)
