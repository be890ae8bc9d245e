"""MkDocs hook: include the READMEs into the pages and generate the CLI reference from the parser.

A page holds directives on lines of their own:

* ``<!-- include: PATH -->``: the repository file PATH (a README), its links rewritten for the site;
* ``<!-- include: PATH#Heading -->``: only the section under that heading (down to the next heading of
  the same or a higher level);
* ``<!-- include-json: PATH -->``: a JSON file as a code block (the result schemas);
* ``<!-- cli-reference -->``: every ``anchorgym`` subcommand's ``--help``, walked from
  :func:`anchorgym.cli.build_parser`, so the reference cannot drift from the code.

A link in an included README to another README that a page includes points to that page; a link to any
other repository file becomes the path in code font (the site has no copy of it). The READMEs stay
written for readers of the repository and nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r"^<!-- include: ([^#\s]+)(?:#(.+?))? -->$", re.M)
INCLUDE_JSON = re.compile(r"^<!-- include-json: (\S+) -->$", re.M)
CLI_REFERENCE = "<!-- cli-reference -->"
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")

_pages: dict[str, str] = {}  # repository path of a wholly included file -> the page (src_uri) including it


def on_files(files: Any, config: Any) -> Any:
    """Note which page includes which README, so links between READMEs can point to pages."""
    _pages.clear()
    for file in files.documentation_pages():
        text = Path(file.abs_src_path).read_text(encoding="utf-8")
        for path, section in INCLUDE.findall(text):
            if not section:
                _pages.setdefault(path, file.src_uri)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the directives of one page."""
    here = page.file.src_uri
    markdown = INCLUDE.sub(lambda m: _include(m.group(1), m.group(2), here), markdown)
    markdown = INCLUDE_JSON.sub(lambda m: _json_block(m.group(1)), markdown)
    if CLI_REFERENCE in markdown:
        markdown = markdown.replace(CLI_REFERENCE, cli_reference())
    return markdown


def _read(path: str) -> str:
    source = ROOT / path
    if not source.is_file():
        raise FileNotFoundError(f"docs: included file {path} does not exist (paths are relative to the repository)")
    return source.read_text(encoding="utf-8")


def _include(path: str, section: str | None, here: str) -> str:
    text = _read(path)
    if section:
        text = _section(text, section, path)
    return _rewrite_links(text, path, here)


def _outside_fences(lines: list[str]) -> list[bool]:
    """For each line, whether it is Markdown text (not inside a fenced code block)."""
    flags, inside = [], False
    for line in lines:
        if FENCE.match(line):
            inside = not inside
            flags.append(False)
        else:
            flags.append(not inside)
    return flags


def _section(text: str, title: str, path: str) -> str:
    lines = text.splitlines()
    flags = _outside_fences(lines)
    headings = [(i, HEADING.match(line)) for i, line in enumerate(lines) if flags[i] and HEADING.match(line)]
    start = next(((i, len(m.group(1))) for i, m in headings if m.group(2) == title), None)
    if start is None:
        raise ValueError(f"docs: {path} has no heading {title!r}")
    end = next((i for i, m in headings if i > start[0] and len(m.group(1)) <= start[1]), len(lines))
    return "\n".join(lines[start[0] : end]) + "\n"


def _rewrite_links(text: str, source: str, here: str) -> str:
    lines = text.splitlines()
    pairs = zip(lines, _outside_fences(lines), strict=True)
    out = [LINK.sub(lambda m: _link(m, source, here), line) if flag else line for line, flag in pairs]
    return "\n".join(out) + "\n"


def _link(match: re.Match[str], source: str, here: str) -> str:
    label, target = match.group(1), match.group(2)
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        return match.group(0)
    path, _, fragment = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    page = _pages.get(repo_path)
    if page is not None:
        link = posixpath.relpath(page, posixpath.dirname(here) or ".")
        return f"[{label}]({link}{'#' + fragment if fragment else ''})"
    return label if label.startswith("`") else f"{label} (`{repo_path}`)"


def _json_block(path: str) -> str:
    return "```json\n" + json.dumps(json.loads(_read(path)), indent=2) + "\n```\n"


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """The (name, help, parser) of each subcommand of ``parser``, aliases left out."""
    found, seen = [], set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    found.append((name, helps.get(name, ""), sub))
    return found


def cli_reference() -> str:
    """Return Markdown with the help of ``anchorgym`` and of every subcommand, nested ones included."""
    from anchorgym.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: fix the width
    parser = build_parser()
    parts = ["## anchorgym", "", "```text", parser.format_help().rstrip(), "```", ""]

    def walk(prog: str, node: argparse.ArgumentParser, level: int) -> None:
        for name, summary, sub in sorted(_subcommands(node), key=lambda item: item[0]):
            parts.extend([f"{'#' * level} {prog} {name}", ""])
            if summary:
                parts.extend([summary[0].upper() + summary[1:] + ".", ""])
            parts.extend(["```text", sub.format_help().rstrip(), "```", ""])
            walk(f"{prog} {name}", sub, min(level + 1, 6))

    walk("anchorgym", parser, 2)
    return "\n".join(parts)
