"""Sanitizing what a notebook produced before it goes into an HTML page: tags, attributes, URLs, secrets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import nh3

if TYPE_CHECKING:  # pragma: no cover
    pass


REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)


_STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "font-size", "font-family",
    "text-align", "vertical-align", "text-decoration", "white-space", "padding", "margin",
    "border", "border-collapse", "width", "height", "min-width", "max-width",
}  # fmt: skip


_RESERVED_ID_PREFIXES = ("cell-", "nbpipe-")


_ATTRIBUTES: dict[str, set[str]] = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()}


_ATTRIBUTES["*"] = {"class", "id", "title", "style", "lang", "dir"}


_ATTRIBUTES["a"] |= {"name"}


_ATTRIBUTES["th"] |= {"scope"}


_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Keep images only as ``data:image/...``, links never ``data:``, ids and classes off ours."""
    lowered = value.strip().lower()
    if attr == "src":
        return value if lowered.startswith("data:image/") else None
    if attr == "href" and lowered.startswith("data:"):
        return None
    if attr == "id" and lowered.startswith(_RESERVED_ID_PREFIXES):
        return None
    if attr == "class":  # the summary's own look (nb-*) cannot be borrowed to fake a status
        return " ".join(c for c in value.split() if not c.startswith("nb-")) or None
    return value


def sanitize_html(html: object) -> str:
    """Return ``html`` with scripts, event handlers, frames, forms and remote resources removed.

    Used for every HTML fragment that comes from a notebook (the ``clean_html`` filter of the
    report template). Tables, text formatting, links and ``data:image`` pictures survive.

    Args:
        html: An HTML fragment (``bytes`` are decoded as UTF-8 with replacement).

    Returns:
        The sanitized fragment.
    """
    text = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
    cleaned = nh3.clean(
        scrub(text),
        tags=nh3.ALLOWED_TAGS | {"tfoot"},
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=nh3.ALLOWED_URL_SCHEMES | {"data"},
        filter_style_properties=_STYLE_PROPERTIES,
    )
    return _IMG_WITHOUT_SRC.sub("", cleaned)  # an <img> whose remote src was removed is noise


def scrub(text: str) -> str:
    """Make ``text`` safe to encode: lone surrogates and NULs become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def clean_value(value: Any, mask: Callable[[str], str] | None) -> Any:
    """Deep-copy a JSON-like value with every string scrubbed and masked."""
    if isinstance(value, str):
        value = scrub(value)
        return mask(value) if mask else value
    if isinstance(value, dict):
        return {str(k): clean_value(v, mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_value(v, mask) for v in value]
    return value
