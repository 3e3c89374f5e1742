"""The proof sketches (issue 20) on the built site: each listed result has a collapsible
"Proof sketch" block right under its statement, holding a proof whose text contains a number glued
at build time; the background chapter has exercises with solutions.

A glued value renders as ``<span class="pasted-text">`` (myst-nb's ``{glue:text}`` role), so a
number typed into the Markdown would not pass.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from itertools import count
from pathlib import Path

import pytest

# result -> (page, label of its statement); the sketch's dropdown title is "Proof sketch (<result>)"
SKETCHES = {
    "Theorems 1 and 8": ("book/02-att-svm.html", "ch02-thm-any"),
    "Lemma 15": ("book/02-att-svm.html", "ch02-lem-factor"),
    "Lemma 1": ("book/02-att-svm.html", "ch02-lem-rank"),
    "Theorem 2": ("book/03-regularization-path.html", "ch03-thm-2"),
    "Theorem 3": ("book/04-global-convergence.html", "ch04-thm-3"),
    "Theorem 4": ("book/04-global-convergence.html", "ch04-thm-4"),
    "Theorem 7": ("book/05-local-convergence.html", "ch05-thm-7"),
    "Lemma 6": ("book/06-multi-token.html", "ch06-lem-lemma6"),
}
BACKGROUND = "book/00-background.html"
NUMBER = re.compile(r"^[-+−]?(\d+(\.\d*)?|\.\d+)([eE][-+−]?\d+)?$")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Node:
    """An element of the page: tag, attributes, children (nodes and strings), document position."""

    def __init__(self, tag: str, attrs: dict, position: int) -> None:
        self.tag, self.attrs, self.position = tag, attrs, position
        self.children: list = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self):
        for child in self.children:
            if isinstance(child, _Node):
                yield child
                yield from child.iter()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self._counter = count()
        self.root = _Node("document", {}, next(self._counter))
        self._stack = [self.root]

    def handle_starttag(self, tag, attrs) -> None:
        node = _Node(tag, dict(attrs), next(self._counter))
        self._stack[-1].children.append(node)
        if tag not in _VOID:
            self._stack.append(node)

    def handle_endtag(self, tag) -> None:
        for k in range(len(self._stack) - 1, 0, -1):
            if self._stack[k].tag == tag:
                del self._stack[k:]
                return

    def handle_data(self, data) -> None:
        self._stack[-1].children.append(data)


def _parse(html: str) -> _Node:
    tree = _Tree()
    tree.feed(html)
    return tree.root


def _glued_numbers(block: _Node) -> list[str]:
    """The glued texts inside the prf:proof of a sketch block that read as numbers."""
    proof = next((n for n in block.iter() if n.tag == "div" and "proof" in n.classes), None)
    assert proof is not None, "the sketch holds no sphinx-proof prf:proof block"
    glued = [n.text().strip() for n in proof.iter() if n.tag == "span" and "pasted-text" in n.classes]
    return [g for g in glued if NUMBER.match(g)]


def _sketch(root: _Node, result: str) -> _Node:
    """The dropdown admonition titled "Proof sketch (<result>)" (exactly one)."""
    title = f"Proof sketch ({result})"
    found = [n for n in root.iter() if n.tag == "div" and {"admonition", "dropdown"} <= n.classes
             and any("admonition-title" in c.classes and c.text().strip() == title for c in n.iter())]
    assert len(found) == 1, f"expected one collapsible block titled {title!r}, found {len(found)}"
    return found[0]


def _section_of(root: _Node, node: _Node) -> _Node:
    """The innermost <section> containing ``node``."""
    sections = [s for s in root.iter() if s.tag == "section" and any(n is node for n in s.iter())]
    assert sections, f"{node.tag}#{node.attrs.get('id')} is not inside a section"
    return max(sections, key=lambda s: s.position)


@pytest.fixture(scope="module")
def pages(built_site: Path) -> dict[str, _Node]:
    return {page: _parse((built_site / page).read_text(encoding="utf-8"))
            for page in {p for p, _ in SKETCHES.values()} | {BACKGROUND}}


@pytest.mark.parametrize("result", list(SKETCHES))
def test_sketch_is_a_collapsible_proof_under_the_statement(pages, result):
    page, label = SKETCHES[result]
    root = pages[page]
    block = _sketch(root, result)
    proofs = [n for n in block.iter() if n.tag == "div" and "proof" in n.classes]
    assert proofs, f"the sketch of {result} holds no sphinx-proof prf:proof block"
    statements = [n for n in root.iter() if n.tag == "div" and n.attrs.get("id") == label]
    assert len(statements) == 1, f"statement {label} not found on {page}"
    statement = statements[0]
    assert statement.position < block.position, f"the sketch of {result} comes before its statement"
    assert _section_of(root, statement) is _section_of(root, block), (
        f"the sketch of {result} is not in the section of its statement")
    between = [n for n in root.iter() if statement.position < n.position < block.position
               and n.tag == "div" and "proof" in n.classes and n not in list(statement.iter())]
    others = [n.attrs.get("id") for n in between if {"theorem", "lemma"} & n.classes]
    assert not others, f"other statements {others} stand between {label} and its sketch"


@pytest.mark.parametrize("result", list(SKETCHES))
def test_sketch_contains_a_glued_number(pages, result):
    page, _ = SKETCHES[result]
    block = _sketch(pages[page], result)
    assert _glued_numbers(block), f"the proof sketch of {result} has no glued number"


def test_a_typed_number_is_not_a_glued_number():
    """The check can fail: a number written into the Markdown renders without the glue span."""
    html = ('<section><div class="dropdown admonition"><p class="admonition-title">Proof sketch (X)</p>'
            '<div class="proof admonition"><p>Proof. The rank is 9 and <span class="pasted-text">True</span>.'
            '</p></div></div></section>')
    assert _glued_numbers(_sketch(_parse(html), "X")) == []
    glued = html.replace("rank is 9", 'rank is <span class="pasted-text">9</span>')
    assert _glued_numbers(_sketch(_parse(glued), "X")) == ["9"]


def test_background_chapter_has_exercises_with_solutions(pages):
    root = pages[BACKGROUND]
    exercises = [n for n in root.iter() if n.tag == "div" and "exercise" in n.classes]
    solutions = [n for n in root.iter() if n.tag == "div" and "solution" in n.classes]
    assert len(exercises) >= 3, f"the background chapter has {len(exercises)} exercises; expected at least 3"
    assert len(solutions) == len(exercises), "every background exercise needs a solution"


@pytest.mark.parametrize("page", sorted({p for p, _ in SKETCHES.values()}))
def test_sketches_stay_closed_until_the_reader_opens_them(browser, site_url, page):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(f"{site_url}/{page}", wait_until="load")
    sketches = tab.locator("div.dropdown.admonition").filter(
        has=tab.locator("p.admonition-title", has_text="Proof sketch"))
    assert sketches.count() == sum(p == page for p, _ in SKETCHES.values())
    for k in range(sketches.count()):
        body = sketches.nth(k).locator("div.proof")
        assert not body.is_visible(), f"{page}: proof sketch {k} is open before the reader clicks"
        sketches.nth(k).locator("button.toggle-button").click()
        body.wait_for(state="visible", timeout=5_000)
    context.close()
    assert not errors, f"{page}: script errors {errors}"
