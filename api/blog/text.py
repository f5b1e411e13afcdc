"""Markdown to safe HTML, slugs, and reading statistics."""

from __future__ import annotations

import html
import math
import re
import unicodedata
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import mdTrim
from markdown_it.rules_block import StateBlock, table
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "s",
    "del",
    "blockquote",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "sup",
    "sub",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
WORDS_PER_MINUTE = 200
# markdown-it's recursion guard: block containers and inline brackets nest at most this deep.
MAX_NESTING = 20
# Token levels of lists (two each) and quotes (one each) before the rest is flattened to text;
# below MAX_NESTING, where markdown-it would silently drop it.
MAX_BLOCK_DEPTH = 16
# GFM pads short rows with empty cells, so a line can stand for a whole row: a few KB of
# tables would make millions of cells. 25,000 is as many as 50,000 characters can write out.
MAX_TABLE_CELLS = 25_000
# 20 times the longest content: real posts render to 2-10 times their length, but a link
# reference definition with a long URL, reused thousands of times, renders to 100 MB.
MAX_HTML_CHARS = 1_000_000
# nh3's HTML parser (html5ever) checks scope by walking the open elements, so deep raw HTML
# costs depth x tags; 1,000 tags keep that small, and posts need a few dozen.
MAX_RAW_HTML_TAGS = 1_000
# html5ever reopens unclosed formatting elements in each new block, capping identical ones
# at three; raw ones made distinct by attributes (`<b title=1>`, `<b title=2>`...) escape the
# cap: 13,000 characters of them and of `<p>x` took 40 s. These tags lose their attributes
# (the allow-list keeps none of them but `title`), `a` excepted: it never nests.
TAG_OPENING = re.compile(r"<[A-Za-z/!?]")  # html5ever reads any other `<` as text
FORMATTING_TAG = re.compile(
    r"<(b|big|code|em|font|i|nobr|s|small|strike|strong|tt|u)(?=[\s/])", re.IGNORECASE | re.ASCII
)


TOO_LARGE = f"Renders to more than {MAX_HTML_CHARS:,} characters of HTML."


class Unrenderable(ValueError):
    """Content whose rendering would cost far more than its length; the message is for the
    author."""


class _Markdown(MarkdownIt):
    """CommonMark (markdown-it-py: linear time, nesting bounded by `maxNesting`) plus GFM
    tables and strikethrough."""

    def __init__(self) -> None:
        super().__init__("commonmark", {"maxNesting": MAX_NESTING})
        self.enable(["table", "strikethrough"])
        self.block.ruler.before("table", "too_deep", _flatten_too_deep)
        self.block.ruler.at("table", _budgeted_table, {"alt": ["paragraph", "reference"]})
        self.core.ruler.push("align_cells", _align_cells)
        self.core.ruler.push("tame_raw_html", _tame_raw_html)

    def validateLink(self, url: str) -> bool:  # noqa: N802 (markdown-it's name)
        """Every destination becomes a link; nh3's scheme allow-list then decides which keep
        their `href`, so `[x](javascript:...)` renders as plain "x", not as its source."""
        return True


def _flatten_too_deep(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Below MAX_BLOCK_DEPTH, the rest of a list item or quote is one paragraph of its text,
    markers and all: markdown-it would drop it, and no real post nests that deep."""
    if silent or state.level < MAX_BLOCK_DEPTH:
        return False
    line = start
    while line < end and (state.isEmpty(line) or not 0 <= state.sCount[line] < state.blkIndent):
        line += 1
    state.push("paragraph_open", "p", 1).map = [start, line]
    inline = state.push("inline", "", 0)
    inline.content = mdTrim(state.getLines(start, line, state.blkIndent, False))
    inline.map = [start, line]
    inline.children = []
    state.push("paragraph_close", "p", -1)
    state.line = line
    return True


def _budgeted_table(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A table gets only the rows that fit in what is left of MAX_TABLE_CELLS, plus one to
    tell that it had more; so no table parses more cells than the budget."""
    if silent:
        return table(state, start, end, True)
    if not table(state, start, end, True):
        return False
    delimiter_row = state.src[state.bMarks[start + 1] : state.eMarks[start + 1]]
    columns = sum(1 for part in delimiter_row.split("|") if part.strip())  # as markdown-it does
    left = MAX_TABLE_CELLS - state.env.get("table_cells", 0)
    first = len(state.tokens)
    table(state, start, min(end, start + 2 + left // columns), False)
    cells = sum(token.type in ("th_open", "td_open") for token in state.tokens[first:])
    if cells > left:
        raise Unrenderable(f"Tables may have at most {MAX_TABLE_CELLS} cells in all.")
    state.env["table_cells"] = MAX_TABLE_CELLS - left + cells
    return True


def _align_cells(state: StateCore) -> None:
    """Table alignment as `align`, which the allow-list keeps (it drops markdown-it's
    `style`)."""
    for token in state.tokens:
        style = token.attrs.get("style")
        if token.type in ("th_open", "td_open") and isinstance(style, str):
            del token.attrs["style"]
            token.attrs["align"] = style.removeprefix("text-align:")


def _tame_raw_html(state: StateCore) -> None:
    """Raw HTML limited to MAX_RAW_HTML_TAGS, its formatting tags bare."""
    raw = [token for token in state.tokens if token.type == "html_block"] + [
        child
        for token in state.tokens
        for child in token.children or ()
        if child.type == "html_inline"
    ]
    if sum(len(TAG_OPENING.findall(token.content)) for token in raw) > MAX_RAW_HTML_TAGS:
        raise Unrenderable(f"At most {MAX_RAW_HTML_TAGS} HTML tags are allowed.")
    for token in raw:
        token.content = _bare_formatting_tags(token.content)


def _bare_formatting_tags(html_text: str) -> str:
    """Each formatting start tag's attributes dropped, up to its `>`; a tag left open at the
    end of the fragment would swallow the Markdown after it, so its `<` is escaped."""
    parts, pos = [], 0
    while match := FORMATTING_TAG.search(html_text, pos):
        end = html_text.find(">", match.end())
        if end == -1:  # nor does any later one close: escape them all
            parts.append(html_text[pos : match.start()])
            parts.append(FORMATTING_TAG.sub(r"&lt;\1", html_text[match.start() :]))
            pos = len(html_text)
            break
        parts.append(f"{html_text[pos : match.start()]}<{match.group(1)}>")
        pos = end + 1
    parts.append(html_text[pos:])
    return "".join(parts)


_MARKDOWN = _Markdown()


def render(markdown_text: str) -> str:
    """Markdown rendered, then cleaned to an allow-list: no scripts, event handlers or
    `javascript:` links survive, whatever the author wrote. Raises Unrenderable for content
    built to cost far more than its length."""
    env: dict[str, Any] = {}
    tokens = _MARKDOWN.parse(markdown_text, env)
    if _text_size(tokens) > MAX_HTML_CHARS:  # before the renderer builds the string
        raise Unrenderable(TOO_LARGE)
    raw = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env)
    raw = re.sub(r"<(/?)h1\b", r"<\1h2", raw)  # the page title is the only h1
    cleaned = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
    if len(cleaned) > MAX_HTML_CHARS:
        raise Unrenderable(TOO_LARGE)
    return cleaned


def _text_size(tokens: list[Token]) -> int:
    """The text and attribute values markdown-it's HTML will hold, a floor on its length: the
    links of a reused reference share one URL string until the renderer copies it out."""
    size = 0
    for token in tokens:
        if token.children is not None:
            size += _text_size(token.children)
        else:
            size += len(token.content)
        size += sum(len(str(value)) for value in token.attrs.values())
    return size


def plain_text(rendered_html: str) -> str:
    text = nh3.clean(rendered_html, tags=set())
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def word_count(text: str) -> int:
    return len(text.split())


def reading_minutes(words: int) -> int:
    return max(1, math.ceil(words / WORDS_PER_MINUTE))


def excerpt(text: str, length: int = 200) -> str:
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80].rstrip("-") or "post"
