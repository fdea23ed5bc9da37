"""Safe rendering of user-written text, and the links of the two catalog modes.

Everything a project author wrote (descriptions, column docs, meta, names) reaches a page
through one of three doors, each safe on its own:

* Jinja2 with autoescape on: every `{{ value }}` is HTML-escaped;
* Markdown through markdown-it-py with raw HTML disabled, then nh3 (an allow-list HTML
  sanitizer) as a second line: no tag, attribute or URL scheme outside the list survives.
  An image on another host loads only where mesh.yml opts in (`catalog: {remote_images:
  ...}`): otherwise a description could make every reader's browser call a tracking pixel.
  A remote image not allowed becomes a link to it (nothing is fetched until it is clicked),
  and the Content-Security-Policy's img-src says the same to the browser;
* JSON for scripts through `embed_json`: served in `<script type="application/json">`, which
  the browser never executes, with `<`, `>`, `&` and line separators escaped so no value can
  close the element.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml as escape_html
from markupsafe import Markup

from meshkit.dbt.nodes import parse_time

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable(["table", "strikethrough"])

ALLOWED_TAGS = {"p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul",
                "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody",
                "tr", "th", "td", "img"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"},
                      "th": {"style"}, "td": {"style"}, "ol": {"start"}, "code": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}


ANY_HTTPS = "https:"      # remote_images: true — every https image


def image_allowed(src: str, allowed: tuple[str, ...]) -> bool:
    """Whether an <img src> may load: same-host (relative) images always; remote ones when
    `allowed` holds ANY_HTTPS (https only) or the image's origin (`https://img.example.com`)."""
    parts = urlsplit(src.strip())
    if not parts.scheme and not parts.netloc:
        return True
    if parts.scheme not in ("http", "https"):
        return False
    if parts.scheme == "https" and ANY_HTTPS in allowed:
        return True
    return f"{parts.scheme}://{parts.netloc}".lower() in allowed


def content_security_policy(allowed: tuple[str, ...] = (), *, server: bool = True) -> str:
    """The catalog's CSP: scripts only from its own files, never inline; images from its own
    host (and data: icons) plus the remote origins mesh.yml allows."""
    images = " ".join(["'self'", "data:", *allowed])
    policy = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              f"img-src {images}; connect-src 'self'; object-src 'none'; base-uri 'none'; "
              "form-action 'self'")
    # frame-ancestors is ignored in a <meta> policy (the static site): headers only.
    return policy + ("; frame-ancestors 'none'" if server else "")


def _render_image(self, tokens, idx, options, env):
    token = tokens[idx]
    src = token.attrGet("src") or ""
    if image_allowed(src, (env or {}).get("images", ())):
        return self.image(tokens, idx, options, env)
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    return (f'<a href="{escape_html(src)}" title="a remote image: the catalog loads images from '
            f'other hosts only where mesh.yml allows them">image: {escape_html(alt)}</a>')


_md.add_render_rule("image", _render_image)


def _clean(html: str, images: tuple[str, ...]) -> str:
    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and not image_allowed(value, images):
            return None
        return value

    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow",
                     strip_comments=True, attribute_filter=keep,
                     filter_style_properties={"text-align"})


@functools.lru_cache(maxsize=8192)
def render_markdown(text: str | None, images: tuple[str, ...] = ()) -> Markup:
    """A description as sanitized HTML (block level); `images`: remote images allowed."""
    if not text or not text.strip():
        return Markup("")
    return Markup(_clean(_md.render(text, {"images": images}), images))


@functools.lru_cache(maxsize=16384)
def render_inline(text: str | None, images: tuple[str, ...] = ()) -> Markup:
    """A short description (a column's) as sanitized inline HTML."""
    if not text or not text.strip():
        return Markup("")
    return Markup(_clean(_md.renderInline(" ".join(text.split()), {"images": images}), images))


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}
_JSON_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def embed_json(value: Any) -> Markup:
    """JSON that is safe inside `<script type="application/json">` (and inside a JS file)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)
    return Markup(_JSON_ESCAPE_RE.sub(lambda m: _JSON_ESCAPES[m.group(0)], text))


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "__dict__"):
        return value.__dict__
    return str(value)


_SAFE_FILE_RE = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(unique_id: str) -> str:
    """A file name for a node's static page: the id itself when it is plain (dbt's ids are)."""
    cleaned = _SAFE_FILE_RE.sub("_", unique_id)
    if cleaned != unique_id or cleaned.startswith("."):
        import hashlib

        cleaned = f"{cleaned.lstrip('.')}-{hashlib.sha1(unique_id.encode()).hexdigest()[:8]}"
    return cleaned


class Links:
    """Where pages live: `/nodes/<id>` when served, `node.html?id=<id>` in a static folder."""

    def __init__(self, static: bool = False, depth: int = 0) -> None:
        self.static = static
        self.prefix = "../" * depth if static else "/"

    def at(self, depth: int) -> "Links":
        return Links(self.static, depth)

    def home(self) -> str:
        return self.prefix + "index.html" if self.static else "/"

    def project(self, name: str) -> str:
        if self.static:
            return f"{self.prefix}projects/{file_name(name)}.html"
        return f"/projects/{quote(name, safe='')}"

    def node(self, unique_id: str) -> str:
        if self.static:
            return f"{self.prefix}node.html?id={quote(unique_id, safe='')}"
        return f"/nodes/{quote(unique_id, safe='')}"

    def lineage(self, unique_id: str, **params: Any) -> str:
        if self.static:
            return f"{self.prefix}lineage.html?id={quote(unique_id, safe='')}"
        query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
        return f"/lineage/{quote(unique_id, safe='')}" + (f"?{query}" if query else "")

    def columns(self, unique_id: str, column: str, **params: Any) -> str | None:
        """A column's lineage graph: served live only (None in a static folder)."""
        if self.static:
            return None
        query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
        return (f"/columns/{quote(unique_id, safe='')}/{quote(column, safe='')}"
                + (f"?{query}" if query else ""))

    def column(self, unique_id: str, column: str) -> str:
        """A column's row on its model page."""
        return f"{self.node(unique_id)}#column-{quote(column.casefold(), safe='')}"

    def search(self, **params: Any) -> str:
        base = self.prefix + "search.html" if self.static else "/search"
        query = urlencode([(k, v) for k, v in params.items() if v], doseq=True)
        return base + (f"?{query}" if query else "")

    def asset(self, path: str) -> str:
        return f"{self.prefix}static/{path}"


def time_ago(value: str | None, now: datetime | None = None) -> str:
    """How long ago (or in how long) an ISO time is, in days, hours or minutes (`3 hours
    ago`, `in 2 days`, `just now`); the text itself when it is no time."""
    if not value:
        return ""
    when = parse_time(value)
    if when is None:
        return str(value)
    seconds = ((now or datetime.now(timezone.utc)) - when).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            span = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {span}" if future else f"{span} ago"
    return "just now"


def short_time(value: str | None) -> str:
    """An ISO time to the minute: 2026-11-23T09:28:53.505427Z → 2026-11-23 09:28 UTC."""
    if not value:
        return ""
    when = parse_time(value)
    if when is None:
        return str(value)
    if when.hour == when.minute == when.second == 0:
        return when.strftime("%Y-%m-%d")
    return when.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """Seconds as people read them: `450 ms`, `12.5 s`, `3.2 min`."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"
