"""From a page's HTML to WebShop's "simple" text observation and its clickables.

Both front ends use this: the text env on the HTML it renders, the browser
mode on the DOM Chromium serialises, so the two see the same text. Visible
text nodes (outside ``head``/``script``/``style``/``title``) are joined with
`` [SEP] ``. Each node's whitespace is collapsed to single spaces (WebShop only
strips the ends), which keeps the text identical whatever line endings a
browser normalises.

Clickables are WebShop's, in its order: the lower-cased text of every ``.btn``
button, then of every ``.product-link`` link, then the value of every radio
input (an option), each kept at its first position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser

SEP = " [SEP] "
HIDDEN = frozenset({"head", "script", "style", "title", "meta"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass(frozen=True)
class PageText:
    """What the text env reads from a page."""

    observation: str
    clickables: tuple[str, ...]
    has_search_bar: bool


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.texts: list[str] = []
        self.clickables: dict[str, list[str]] = {"btn": [], "product-link": [], "radio": []}
        self.has_search_bar = False
        self._capture: list[str] | None = None
        self._capture_depth = 0
        self._capture_kind = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        classes = (attr.get("class") or "").split()
        if tag == "input" and attr.get("type") == "radio":
            self.clickables["radio"].append(normalize(attr.get("value") or ""))
        if attr.get("id") == "search_input":
            self.has_search_bar = True
        if tag in VOID:
            return
        self.stack.append(tag)
        kind = next((k for k in ("btn", "product-link") if k in classes), "")
        if kind:
            self._capture, self._capture_depth, self._capture_kind = [], len(self.stack), kind

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID or tag not in self.stack:
            return
        while self.stack:
            if self._capture is not None and len(self.stack) == self._capture_depth:
                self.clickables[self._capture_kind].append(normalize("".join(self._capture)))
                self._capture = None
            if self.stack.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._capture.append(data)
        if any(tag in HIDDEN for tag in self.stack):
            return
        text = " ".join(data.split())
        if text:
            self.texts.append(text)


def normalize(text: str) -> str:
    """Lower-case ``text`` and collapse its whitespace (how clickables are named).

    >>> normalize("  Next  >")
    'next >'
    """
    return " ".join(text.split()).lower()


@lru_cache(maxsize=1024)  # GRPO groups revisit the same pages; parsing is the costly part
def read_page(html: str) -> PageText:
    """Return the simple-mode observation and clickables of a page.

    >>> page = read_page('<html><head><title>x</title></head><body><p>WebShop</p><input type="radio" value="red">'
    ...                  '<a class="product-link">B01</a><button class="btn">Buy  Now</button></body></html>')
    >>> page.observation, page.clickables
    ('WebShop [SEP] B01 [SEP] Buy Now', ('buy now', 'b01', 'red'))
    """
    reader = _Reader()
    reader.feed(html)
    reader.close()
    found = [c for kind in ("btn", "product-link", "radio") for c in reader.clickables[kind]]
    clickables = tuple(dict.fromkeys(c for c in found if c and c != "search"))
    return PageText(SEP.join(reader.texts), clickables, reader.has_search_bar)
