"""A Griffe extension: the reST in the package's docstrings, as the API reference's Markdown.

The docstrings are written to be read in a terminal too (``help(Dense)``),
so they keep three reST habits that Markdown would print as they are:

- ``text::`` before an indented literal block: the block becomes a fenced
  code block and ``::`` becomes ``:`` (or goes, after a space or alone on
  its line), as Sphinx renders it;
- roles such as ``:class:`~shapesafe_nn.training.signals.Interrupted``` and
  ``:func:`softmax```: inline code, linked to the object's entry where the
  name resolves (``~`` shows the last part of the path only);
- ``w^{l+1}`` and ``Σ_{batch, seq}``: superscripts and subscripts, in HTML.
  No LaTeX renderer is needed: the rest of the maths is Unicode already
  (σ, Σ, ⊙, ᵀ).

Code is left alone: literal blocks, fenced blocks and inline code.

mkdocs.yml loads this file into mkdocstrings' Python handler
(``extensions:``); it changes what the reference shows, never the package.
"""

import html
import re

import griffe

LITERAL_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<text>.*?)(?P<space>[ \t]*)::[ \t]*$")
FENCE = re.compile(r"^[ \t]*(```|~~~)")
INLINE_CODE = re.compile(r"(``?)(?!`).+?(?<!`)\1(?!`)")
ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`(?P<target>[^`]+)`")
# innermost braces first, so that x^{a_{i}} becomes x<sup>a<sub>i</sub></sup>
SCRIPT = re.compile(r"(?P<mark>[_^])\{(?P<body>[^{}]*)\}")
SCRIPT_TAGS = {"^": "sup", "_": "sub"}


def indent_of(line: str) -> int:
    """How many spaces (or tabs) the line starts with."""
    return len(line) - len(line.lstrip())


def fence_literal_blocks(lines: list[str]) -> list[str]:
    """``text::`` + a blank line + an indented block -> ``text:`` + a fenced block."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        marker = LITERAL_MARKER.match(lines[i])
        following = next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)
        if (marker is None or following is None or following == i + 1
                or indent_of(lines[following]) <= indent_of(lines[i])):
            out.append(lines[i])
            i += 1
            continue
        indent, text = marker["indent"], marker["text"]
        if text:  # "text::" reads "text:"; "text ::" reads "text"
            out.append(indent + text + ("" if marker["space"] else ":"))
            out.append("")
        block_end = following
        while block_end < len(lines) and (not lines[block_end].strip()
                                          or indent_of(lines[block_end]) > len(indent)):
            block_end += 1
        while not lines[block_end - 1].strip():  # trailing blank lines are not code
            block_end -= 1
        block = lines[following:block_end]
        depth = min(indent_of(line) for line in block if line.strip())
        out.append(indent + "```")
        out.extend(indent + line[depth:] if line.strip() else "" for line in block)
        out.append(indent + "```")
        i = block_end
    return out


def role_as_code(match: re.Match, obj: griffe.Object) -> str:
    """A role as inline code, wrapped in a link where its target resolves.

    The link is an *optional* cross-reference: one to an object that no page
    renders (a private helper) shows as plain code instead of failing the
    strict build.
    """
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if target.startswith("~") else target
    path = target.lstrip("~")
    code = f"<code>{html.escape(shown)}</code>"
    if path.startswith("shapesafe_nn."):
        identifier = path
    else:  # a name in the docstring's scope, maybe followed by a member: Module.forward
        head, dot, rest = path.partition(".")
        try:
            identifier = obj.resolve(head) + dot + rest
        except griffe.NameResolutionError:
            return code
    return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'


def scripts_as_html(text: str) -> str:
    """``^{...}`` and ``_{...}`` as <sup> and <sub>, innermost first."""
    def tagged(match: re.Match) -> str:
        tag = SCRIPT_TAGS[match["mark"]]
        return f"<{tag}>{match['body']}</{tag}>"

    while True:
        text, count = SCRIPT.subn(tagged, text)
        if not count:
            return text


def outside_inline_code(line: str, change) -> str:
    """Apply ``change`` to the parts of ``line`` between inline code spans."""
    parts, start = [], 0
    for code in INLINE_CODE.finditer(line):
        parts.append(change(line[start:code.start()]))
        parts.append(code.group())
        start = code.end()
    parts.append(change(line[start:]))
    return "".join(parts)


def markdown_of(docstring: str, obj: griffe.Object) -> str:
    """The docstring with its reST habits turned into Markdown (see the module's docstring)."""
    lines = fence_literal_blocks(docstring.splitlines())
    in_code = False
    for number, line in enumerate(lines):
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            # roles first: their backticks would read as inline code
            line = ROLE.sub(lambda match: role_as_code(match, obj), line)
            lines[number] = outside_inline_code(line, scripts_as_html)
    return "\n".join(lines)


class RestMarkup(griffe.Extension):
    """Rewrites every docstring once the package's object tree is complete."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value, obj)
