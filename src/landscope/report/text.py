"""A study's docstring as HTML blocks: paragraphs, literal blocks and inline code.

Study docstrings are plain text in reStructuredText's habits: paragraphs separated by
blank lines, numbered or bulleted lists, indented literal blocks (after ``::``) and
``inline code``. Only those are turned into HTML (``<p>``, ``<ol>``/``<ul>``, ``<pre>``,
``<code>``); every other character is escaped, so a docstring can never inject markup
into the page.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Block", "doc_blocks", "inline_code"]

_CODE = re.compile(r"``(.+?)``")
_ITEM = re.compile(r"^(\d+\.|[-*])\s+")


@dataclass(frozen=True)
class Block:
    """One block of a docstring.

    Attributes:
        kind: ``"p"`` (a paragraph), ``"pre"`` (a literal block), ``"ol"`` or ``"ul"``
            (a numbered or bulleted list).
        text: the paragraph's or literal block's text (a list's: ``""``).
        items: a list's items, each on one line.
    """

    kind: str
    text: str
    items: tuple[str, ...] = ()


def _list(lines: list[str]) -> Block | None:
    """A chunk whose first line starts with ``1.`` or ``-`` as a list, else None."""
    first = _ITEM.match(lines[0].strip())
    if first is None:
        return None
    items: list[list[str]] = []
    for line in lines:
        text = line.strip()
        match = _ITEM.match(text)
        if match is not None and match.group(1)[0].isdigit() == first.group(1)[0].isdigit():
            items.append([text[match.end() :]])
        else:
            items[-1].append(text)
    kind = "ol" if first.group(1)[0].isdigit() else "ul"
    return Block(kind, "", tuple(" ".join(item) for item in items))


def doc_blocks(doc: str) -> list[Block]:
    """Split a docstring into paragraphs and literal (indented) blocks, in order.

    Args:
        doc: the docstring (indentation as written; it is cleaned here).

    Returns:
        The blocks; a paragraph's (and a list item's) lines are joined by spaces, a
        literal block keeps its lines with the common indentation removed.
    """
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", inspect.cleandoc(doc or "")):
        lines = chunk.splitlines()
        if not lines or not chunk.strip():
            continue
        if all(line.startswith((" ", "\t")) for line in lines if line.strip()):
            blocks.append(Block("pre", inspect.cleandoc(chunk)))
        elif (listed := _list(lines)) is not None:
            blocks.append(listed)
        else:
            text = " ".join(line.strip() for line in lines)
            blocks.append(Block("p", text[:-1] if text.endswith("::") else text))
    return blocks


def inline_code(text: str) -> Markup:
    """``text`` escaped, with each ````code```` span as ``<code>code</code>``."""
    out = Markup("")
    pos = 0
    for match in _CODE.finditer(text):
        out += escape(text[pos : match.start()])
        out += Markup("<code>{}</code>").format(match.group(1))
        pos = match.end()
    return out + escape(text[pos:])
