"""The context's shape (lines, sections, the whole) and its Markdown, safe against its input.

Every line's text comes partly from payloads that agents and people wrote, and the Markdown
goes into a model's prompt. So no input may create structure there: a line is folded onto
one line (line breaks, control and format characters become spaces, long text is cut) and
in the Markdown every character that could start a heading, a list item, a block quote, a
table, a code span or fence, HTML, a link or a citation is backslash-escaped. What the
Markdown shows as structure (headings, list items, ``[events ...]`` citations) is then only
what this module wrote.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from pydantic import BaseModel, Field

LINE_CHARS = 600  # a line's text at the most (notes are cut shorter, at NOTE_CHARS)
# Inline, anywhere: the backslash itself, code spans and fences, emphasis, links and
# citations, HTML and autolinks, entities (``&#91;`` renders as a bracket), headings.
# (CommonMark lets a backslash escape any ASCII punctuation.)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&~#])")
# At the start of a line's text, what would open a block inside the list item: a list
# marker (``-``, ``+``, ``1.``, ``1)``), a setext underline or a table row.
_BLOCK_START = re.compile(r"^([-+=|]|\d{1,9}(?=[.)]))")
# Invisible or line-breaking: control (Cc), format (Cf: bidi overrides, zero-width), line and
# paragraph separators (Zl, Zp) and every other space (Zs) but the plain one.
_FOLDED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Zs"}


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """``text`` on one line: what breaks or hides text becomes a space, runs of spaces one
    space, and the end is cut at ``limit`` characters (with an ellipsis)."""
    if not (text.isascii() and text.isprintable()):  # (else nothing to fold: C speed)
        text = "".join(" " if unicodedata.category(c) in _FOLDED_CATEGORIES else c for c in text)
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def escape_markdown(text: str) -> str:
    """``text`` (already on one line) as inline Markdown that renders as itself and creates
    no structure."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    return _BLOCK_START.sub(_escape_block_start, escaped, count=1)


def _escape_block_start(match: re.Match[str]) -> str:
    marker = match.group(1)
    # "1." -> "1\.": the number stays, the punctuation after it is what CommonMark reads.
    return marker + "\\" if marker[0].isdigit() else "\\" + marker


class Line(BaseModel):
    """One statement of the context and the events it rests on."""

    text: str
    cites: list[int]


def line(text: str, cites: list[int]) -> Line:
    """A line whose text (parts of it written by clients) is folded onto one line."""
    return Line(text=one_line(text), cites=cites)


class Section(BaseModel):
    """A titled list of lines."""

    name: str
    title: str
    lines: list[Line]


class PatientContext(BaseModel):
    """The context of one patient, as JSON; :meth:`markdown` renders it for a prompt."""

    patient_id: str
    as_of: datetime | None = None
    until: datetime | None = Field(
        default=None, description="Only what occurred before this time (clinical time)"
    )
    sections: list[Section]
    omitted: list[str] = Field(default_factory=list, description="Sections cut for the budget")
    withheld: int = Field(default=0, description="Events left out for their sensitivity labels")
    estimated_tokens: int = 0

    def cited(self) -> list[int]:
        """The ids of every event a line cites, ascending."""
        return sorted(
            {c for section in self.sections for line in section.lines for c in line.cites}
        )

    def markdown(self) -> str:
        """The context as Markdown, ready to paste into a prompt."""
        out = [f"# Patient {escape_markdown(self.patient_id)}"]
        if self.as_of is not None:
            # Fixed width (microseconds always shown): the token estimate, and so what a
            # budget keeps, must not depend on the time a context is pinned to.
            out.append(f"_As recorded at {self.as_of.isoformat(timespec='microseconds')}._")
        if self.until is not None:
            out.append(f"_Clinical events before {self.until.isoformat(timespec='microseconds')}._")
        for section in self.sections:
            out.append(f"\n## {section.title}")
            if not section.lines:
                out.append("- none recorded")
            for item in section.lines:
                cites = ", ".join(str(c) for c in item.cites)
                out.append(f"- {escape_markdown(one_line(item.text))} [events {cites}]")
        if self.omitted:
            out.append(f"\n_Left out for length: {', '.join(self.omitted)}._")
        if self.withheld:
            out.append(f"\n_{self.withheld} sensitive event(s) withheld._")
        return "\n".join(out) + "\n"
