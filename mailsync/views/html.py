"""Email HTML made safe to display in the message page's sandboxed frame.

The HTML of a message is whatever its sender wrote: only what nh3 lets through is shown, remote
images wait behind "Show images", and cid: images go through our access-checked URLs.
"""

import html as html_lib
import re
from urllib.parse import unquote

import nh3

from mailsync.mime.parsing import clean_text as _clean

_SANITIZE_TAGS = (set(nh3.ALLOWED_TAGS) - {"area", "map"}) | {"font", "tfoot", "big"}
# Removed together with their content.
_SANITIZE_DROP_CONTENT = {
    "script", "style", "title", "iframe", "object", "embed", "applet", "noscript", "template",
    "frame", "frameset", "noframes", "xmp", "svg", "math", "textarea", "select", "button",
}  # fmt: skip
_SANITIZE_GENERIC_ATTRIBUTES = {
    "align", "valign", "dir", "lang", "title", "style", "width", "height", "bgcolor", "border",
    "cellpadding", "cellspacing", "color", "face", "size", "colspan", "rowspan",
}  # fmt: skip
_SANITIZE_ATTRIBUTES = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
_SANITIZE_ATTRIBUTES["*"] = _SANITIZE_GENERIC_ATTRIBUTES
_SANITIZE_ATTRIBUTES["img"] = {"src", "alt", "width", "height", "align", "data-remote-src"}
# CSS properties kept in style="" (no url(), position, display or z-index tricks).
_SANITIZE_STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight",
    "font-variant", "text-align", "text-decoration", "text-indent", "text-transform",
    "line-height", "letter-spacing", "word-spacing", "white-space", "vertical-align",
    "width", "height", "max-width", "min-width", "margin", "margin-top", "margin-right",
    "margin-bottom", "margin-left", "padding", "padding-top", "padding-right", "padding-bottom",
    "padding-left", "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-style", "border-width", "border-collapse", "border-spacing",
    "border-radius", "float", "clear", "list-style-type",
}  # fmt: skip
_SANITIZE_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}
_SAFE_DATA_IMAGE_RE = re.compile(r"^data:image/(png|jpe?g|gif|webp|bmp|x-icon);", re.IGNORECASE)
_REMOTE_URL_RE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
_STYLE_TRICKS = ("url(", "expression(", "javascript:", "@import", "\\", "behavior")


def _cid_key(value: str) -> str:
    """The Content-ID a `cid:` URL names (RFC 2392: URL-encoded, without the angle brackets)."""
    return unquote(value.strip()[4:]).strip().strip("<>").strip().lower()


def _attribute_filter(
    allow_remote_images: bool, parked: bool, inline_images: dict[str, str] | None
):
    inline_urls = set(inline_images.values()) if inline_images else set()

    def check(tag: str, attribute: str, value: str) -> str | None:
        low = value.strip().lower()
        if attribute == "style":
            return None if any(trick in low for trick in _STYLE_TRICKS) else value
        if tag == "img" and attribute == "src":
            if low.startswith("cid:"):
                if inline_images is None:
                    return value
                # The message's own image, served by our access-checked view; an unknown cid
                # names nothing we can serve and stays blocked.
                return inline_images.get(_cid_key(value))
            if value in inline_urls:
                return value  # rewritten from cid: by the first pass
            if low.startswith("data:"):
                # SVG is left out: it is a document that can carry scripts if opened on its own.
                return value if _SAFE_DATA_IMAGE_RE.match(low) else None
            if _REMOTE_URL_RE.match(low):
                return value if allow_remote_images else None
            return None
        if tag == "img" and attribute == "data-remote-src":
            # Only our own, set by _park_remote_images between the two passes.
            return value if parked and _REMOTE_URL_RE.match(low) else None
        if attribute in ("href", "cite") and low.startswith(("data:", "cid:")):
            return None
        return value

    return check


_SERIALISED_TAG_RE = re.compile(r'<(?:[^">]|"[^"]*")*>|[^<]+|<')
_SERIALISED_ATTR_RE = re.compile(r'(\s)([^\s="/>]+)="([^"]*)"')


def _park_remote_images(html: str) -> str:
    """Move remote <img src> into data-remote-src, on HTML serialised by nh3 (html5ever).

    That serialiser always double-quotes attribute values and escapes "<" in text, so a token scan
    finds every tag; the second nh3 pass in sanitize_html is the safety net either way.
    """
    out = []
    for match in _SERIALISED_TAG_RE.finditer(html):
        token = match.group(0)
        if token[:4].lower() == "<img" and (len(token) == 4 or not token[4].isalnum()):

            def park(attr: re.Match) -> str:
                space, name, value = attr.groups()
                if name.lower() == "src" and _REMOTE_URL_RE.match(html_lib.unescape(value)):
                    return f'{space}data-remote-src="{value}"'
                return attr.group(0)

            token = _SERIALISED_ATTR_RE.sub(park, token)
        out.append(token)
    return "".join(out)


# What a browser makes of a URL: leading and trailing spaces go, tabs and newlines anywhere go,
# and a backslash counts as "/" (WHATWG URL standard, "special" schemes such as https).
_URL_IGNORED_RE = re.compile(r"[\t\n\r]")
_PROTOCOL_RELATIVE_RE = re.compile(r"^[/\\]{2}")


def _relative_url(inline_urls: set[str]):
    def rewrite(url: str) -> str | None:
        if url in inline_urls:
            return url
        # "//host/x.png" is a remote URL on the page's scheme: make it explicit, so that it is
        # held behind "Show images" like any other remote image (and is a plain remote link in
        # an <a>). Any other relative URL would point at the CRM itself.
        seen = _URL_IGNORED_RE.sub("", url).strip(" \f")
        if _PROTOCOL_RELATIVE_RE.match(seen):
            return "https://" + seen[2:]
        return None

    return rewrite


def _nh3_clean(
    html: str,
    allow_remote_images: bool,
    parked: bool = False,
    inline_images: dict[str, str] | None = None,
) -> str:
    return nh3.clean(
        html,
        tags=_SANITIZE_TAGS,
        clean_content_tags=_SANITIZE_DROP_CONTENT,
        attributes=_SANITIZE_ATTRIBUTES,
        attribute_filter=_attribute_filter(allow_remote_images, parked, inline_images),
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=_SANITIZE_URL_SCHEMES,
        filter_style_properties=_SANITIZE_STYLE_PROPERTIES,
        url_relative=_relative_url(set(inline_images.values()) if inline_images else set()),
    )


def sanitize_html(
    html: str,
    *,
    allow_remote_images: bool = False,
    inline_images: dict[str, str] | None = None,
) -> str:
    """Safe-to-display HTML: no active content, links open in a new tab without a referrer.

    With allow_remote_images False, remote images do not load: their URL is kept in
    data-remote-src for a "show images" button; protocol-relative ones ("//host/x.png") too.
    `inline_images` maps lower-case Content-IDs to the URLs that serve them: `cid:` images are
    rewritten to those URLs, and those naming no known Content-ID lose their src. Without it,
    cid: images are kept as they are.
    """
    if not html:
        return ""
    html = _clean(html)
    cleaned = _nh3_clean(html, allow_remote_images=True, inline_images=inline_images)
    if allow_remote_images:
        return cleaned
    return _nh3_clean(
        _park_remote_images(cleaned),
        allow_remote_images=False,
        parked=True,
        inline_images=inline_images,
    )
