"""The blog renderer: what authors get from Markdown, and inputs that must not hang or crash it.

Timeouts bound the hostile inputs instead of timing assertions: a regression to a quadratic or
recursive renderer fails by timeout or by exception, never by a flaky clock.
"""

from __future__ import annotations

import pytest

from api.blog import text

CAP = 50_000  # the schema's longest content


def test_authors_keep_tables_strikethrough_code_links_images_and_autolinks():
    html = text.render(
        "# Title\n\n"
        '~~closed~~ and [the map](https://map.test "Map") ![Ubud](https://img.test/u.png) '
        "<https://auto.test> <me@mail.test>\n\n"
        "| Day | Place |\n|:----|------:|\n| 1 | Ubud |\n\n"
        "```python\nprint(1 < 2)\n```\n"
    )

    assert "<h2>Title</h2>" in html  # the page title is the only h1
    assert "<h1" not in html
    assert "<s>closed</s>" in html
    assert (
        '<a href="https://map.test" title="Map" rel="nofollow noopener noreferrer">the map</a>'
        in html
    )
    assert '<img src="https://img.test/u.png" alt="Ubud">' in html
    assert (
        '<a href="https://auto.test" rel="nofollow noopener noreferrer">https://auto.test</a>'
        in html
    )
    assert '<a href="mailto:me@mail.test" rel="nofollow noopener noreferrer">' in html
    assert '<th align="left">Day</th>' in html
    assert '<td align="right">Ubud</td>' in html
    assert '<pre><code class="language-python">print(1 &lt; 2)\n</code></pre>' in html


def test_javascript_links_and_raw_html_are_sanitised():
    html = text.render(
        "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
        '<script>alert(1)</script><img src="https://x.test/a.png" onerror="alert(1)">\n\n'
        '<h1 onclick="x()">Raw title</h1>'
    )

    assert "javascript:" not in html
    assert "data:" not in html
    assert '<a rel="nofollow noopener noreferrer">click</a>' in html
    assert "<script" not in html
    assert "alert" not in html
    assert '<img src="https://x.test/a.png">' in html
    assert "<h2>Raw title</h2>" in html


@pytest.mark.timeout(10)
@pytest.mark.parametrize("run", ["[", "![", "[a]("])
def test_runs_of_brackets_render_in_linear_time(run):
    """Python-Markdown took minutes on 50,000 characters of `[`."""
    source = run * (CAP // len(run))

    html = text.render(source)

    assert text.plain_text(html).replace(" ", "") == source.replace(" ", "")  # all text


@pytest.mark.timeout(10)
@pytest.mark.parametrize("marker", ["- ", "1. ", "> "])
def test_deeply_nested_lists_do_not_500(marker):
    """Python-Markdown recursed once per level and raised RecursionError (an HTTP 500)."""
    source = marker * ((CAP - len("deepest")) // len(marker)) + "deepest"

    html = text.render(source)

    assert html.startswith(("<ul>", "<ol>", "<blockquote>"))
    assert "deepest" in html  # flattened to text below the depth limit, not dropped


def test_blocks_nested_past_the_limit_keep_their_text_and_what_follows():
    lists = "".join("  " * level + f"- item {level}\n" for level in range(12))
    html = text.render(lists + "\nafter")

    assert html.count("<ul>") == text.MAX_BLOCK_DEPTH // 2
    assert "<li>item 7\n- item 8\n- item 9\n- item 10\n- item 11</li>" in html
    assert html.endswith("<p>after</p>\n")


def wide_tables_of_short_rows(columns: int = 100, rows: int = 650) -> str:
    """Each one-character row is padded to `columns` cells: 65,000 cells per 1,700 characters."""
    table = "|" + "a|" * columns + "\n|" + "-|" * columns + "\n" + "a\n" * rows + "\n"
    return (table * (CAP // len(table)))[:CAP]


@pytest.mark.timeout(10)
def test_padded_table_rows_cannot_multiply_cells():
    """markdown-it caps padding per table, not per post: 50,000 characters made 1.9 million
    cells (over a minute)."""
    with pytest.raises(text.Unrenderable, match="cells"):
        text.render(wide_tables_of_short_rows())


def test_a_long_table_within_the_cell_budget_renders_whole():
    rows = "".join(f"|{n}|x|\n" for n in range(7_000))  # 14,002 cells

    html = text.render("|n|x|\n|-|-|\n" + rows)

    assert html.count("<tr>") == 7_001
    assert "<td>6999</td>" in html


@pytest.mark.timeout(10)
@pytest.mark.parametrize("definition", ["[a]: https://x.test/{long}", '[a]: /u "{long}"'])
def test_reused_link_references_cannot_balloon_the_html(definition):
    """A 24,000-character URL (or title) used 8,000 times rendered to 100 MB of HTML."""
    head = definition.format(long="a" * 24_000) + "\n\n"
    source = head + "[a]" * ((CAP - len(head)) // 3)

    with pytest.raises(text.Unrenderable, match="characters of HTML"):
        text.render(source)


def test_references_reused_as_often_as_a_real_post_does_render():
    html = text.render("[map]: https://maps.test/ubud\n\n" + "See the [map]. " * 1_000)

    assert html.count('<a href="https://maps.test/ubud"') == 1_000


@pytest.mark.timeout(10)
def test_distinct_raw_formatting_tags_cannot_multiply_in_the_sanitiser():
    """nh3's parser reopens unclosed formatting elements in every new paragraph; made distinct
    by attributes, 600 of them and 390 `<p>` gave 4.4 MB of HTML and 9 s."""
    opened = "".join(f"<b title={n}>" for n in range(600))

    html = text.render("x " + opened + "<p>x" * 390)

    assert len(html) < 50_000  # three identical ones a paragraph: ~12 KB
    assert text.plain_text(html) == "x " + "x" * 390


def test_raw_formatting_tags_keep_their_effect_but_not_their_attributes():
    html = text.render('<b title="T">bold</b>, <code class="c">code</code>, <B x=1>more</B>')

    assert html == "<p><b>bold</b>, <code>code</code>, <b>more</b></p>\n"


@pytest.mark.timeout(10)
def test_deep_raw_html_is_refused_before_the_sanitiser_walks_it():
    """Scope checks walk the open elements: 6,250 nested `<ul><li>` took 2.4 s in nh3."""
    with pytest.raises(text.Unrenderable, match="HTML tags"):
        text.render("<ul><li>" * (CAP // 8))
