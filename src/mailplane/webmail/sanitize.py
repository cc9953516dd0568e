"""The HTML of a received message, made safe to show (SECURITY.md 10: untrusted HTML is
hostile).

nh3 (Rust's ammonia) parses the HTML the way a browser does (html5ever) and keeps only an
allowlist: nothing executable and nothing that loads from elsewhere survives.

- Tags: text formatting, lists, tables, links and images. Whatever runs code or loads
  content (script, style, iframe, object, embed, svg, math, template, meta, base, link,
  forms and their controls) is dropped; the worst of them with their content.
- Attributes: a per-tag allowlist; no event handlers, no ``id``/``class`` (a message must
  not clobber the webmail's DOM or borrow its CSS classes), no ``srcset``/``background``.
- URLs: ``http``, ``https`` and ``mailto`` links only; relative URLs are dropped (there is
  no base a message may resolve against). ``javascript:``, ``vbscript:`` and ``data:`` go
  whatever their spelling: the scheme is checked on the parsed, entity-decoded value.
- Images: ``cid:`` becomes the API's URL of that part (``cid_url``); remote ``http(s)``
  images are dropped and counted unless the user asked for them (then they are kept with
  ``referrerpolicy="no-referrer"``); anything else (``data:``, relative) is dropped.
- Links open in a new browsing context without an opener or a referrer
  (``rel="noopener noreferrer nofollow"``, ``target="_blank"``).
- CSS: ``<style>`` blocks are dropped with their content. ``style`` attributes are kept
  for the look of a message, but only with an allowlist of properties that take no URL
  (no ``background`` shorthand, ``background-image``, ``list-style``, ``content``,
  ``cursor``, ``position``...), and a ``style`` attribute is dropped entirely when it holds
  anything that could load or run (``url(``, ``image-set(``, ``expression(``,
  ``@import``, ``behavior``, ``-moz-binding``) or a CSS escape or comment that could
  disguise one.

The client still shows the result in a sandboxed iframe without scripts: sanitizing and
sandboxing are two walls, not one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import nh3

_TAGS = frozenset(
    {
        "a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "big", "blockquote",
        "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details",
        "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li", "main",
        "mark", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section", "small",
        "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip

# Dropped together with everything inside them: their content is code, styles, another
# document or form controls, never text meant for the reader.
_DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "title", "template", "iframe", "frame", "frameset", "object",
        "embed", "applet", "svg", "math", "noscript", "noembed", "noframes", "textarea",
        "select", "option", "xmp", "plaintext", "head",
    }
)  # fmt: skip

_GENERIC_ATTRIBUTES = {"title", "lang", "dir", "align", "valign", "style"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": _GENERIC_ATTRIBUTES,
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor", "summary"},
    "td": {"width", "height", "colspan", "rowspan", "bgcolor", "nowrap"},
    "th": {"width", "height", "colspan", "rowspan", "bgcolor", "nowrap", "scope"},
    "tr": {"bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "hr": {"width", "size", "noshade"},
    "details": {"open"},
}

# CSS properties that take no URL and cannot lift content out of the message's box.
_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
        "text-transform", "line-height", "letter-spacing", "word-spacing", "white-space",
        "word-break", "word-wrap", "overflow-wrap", "vertical-align", "direction",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-style", "border-width", "border-radius",
        "border-collapse", "border-spacing", "width", "height", "max-width", "min-width",
        "max-height", "min-height", "display", "list-style-type", "table-layout",
        "text-overflow", "overflow",
    }
)  # fmt: skip

# Anything that loads or runs from CSS, or could hide one: CSS escapes (\75rl) and
# comments (u/**/rl) are refused rather than decoded.
_STYLE_DANGER = re.compile(
    r"url\s*\(|image-set|image\s*\(|expression|@import|behavior|binding|\\|/\*|&|javascript",
    re.IGNORECASE,
)

_LINK_SCHEMES = {"http", "https", "mailto", "cid"}
_REMOTE = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class Sanitized:
    html: str
    remote_blocked: int  # remote images dropped because the user did not ask for them


def sanitize_html(
    html: str, *, remote_images: bool, cid_url: Callable[[str], str | None]
) -> Sanitized:
    """Keeps what is safe to show of ``html``; ``cid_url(content_id)`` gives the URL of an
    inline part (None when the message has no such part)."""
    remote_blocked = 0

    def filter_attribute(tag: str, attribute: str, value: str) -> str | None:
        nonlocal remote_blocked
        if attribute == "style":
            return None if _STYLE_DANGER.search(value) else value
        if tag == "img" and attribute == "src":
            value = value.strip()
            if value[:4].lower() == "cid:":
                return cid_url(_content_id(value[4:]))
            if _REMOTE.match(value):
                if remote_images:
                    return value
                remote_blocked += 1
            return None
        if tag == "a" and attribute == "href" and value.strip()[:4].lower() == "cid:":
            return None  # cid: is for images; a link to a part is the attachment list's job
        return value

    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes=_ATTRIBUTES,
        attribute_filter=filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes=_LINK_SCHEMES,
        url_relative="deny",
        filter_style_properties=set(_STYLE_PROPERTIES),
        set_tag_attribute_values={
            "a": {"target": "_blank"},
            "img": {"referrerpolicy": "no-referrer", "loading": "lazy"},
        },
    )
    return Sanitized(html=cleaned, remote_blocked=remote_blocked)


def _content_id(value: str) -> str:
    """RFC 2392: a cid URL is the Content-ID without its angle brackets, %-encoded."""
    return unquote(value).strip().strip("<>")
