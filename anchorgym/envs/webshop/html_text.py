r"""From a page's HTML to WebShop's "simple" text observation and its clickables.

Both front ends use this: the text env on the HTML it renders, the browser
mode on the DOM Chromium serialises, so the two see the same text.

``pages="webshop"`` reads a page as WebShop's text env does with BeautifulSoup
(``html.parser``): every text node whose parent is not ``head``/``script``/
``style``/``title``/``meta`` is stripped and joined with `` [SEP] ``; a node of
ASCII whitespace only becomes ``"\n"`` (dropped) when it holds a newline, else
``" "`` (kept, as an empty item). Clickables are the keys of WebShop's
``text_to_clickable`` dict, in its order: the lower-cased text of every
``.btn`` element, then of every ``.product-link``, then every radio input's
value as it is (a non-breaking space stays one).

``pages="anchorgym-v0"`` is the reading of ``anchorgym/WebShop-v0``: whitespace
collapsed in text nodes and clickable names, ``search`` not listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from html.parser import HTMLParser

SEP = " [SEP] "
PAGES = ("webshop", "anchorgym-v0")
ASCII_SPACES = " \n\t\x0c\r"  # what BeautifulSoup calls whitespace
TEXT_HIDDEN = frozenset({"style", "script", "head", "title", "meta"})  # WebShop's tag_visible
PRESERVE = frozenset({"pre", "textarea"})
HIDDEN = frozenset({"head", "script", "style", "title", "meta"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass(frozen=True)
class PageText:
    """What the text env reads from a page."""

    observation: str
    clickables: tuple[str, ...]
    has_search_bar: bool


@dataclass
class _Open:
    """An open element: its tag and, for a ``.btn``/``.product-link``, where its name goes and its text so far."""

    tag: str
    kind: str = ""
    slot: int = -1
    text: list[str] = field(default_factory=list)


class _SoupText(HTMLParser):
    """Text nodes and clickables as BeautifulSoup's html.parser tree gives them to WebShop."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Open] = []
        self.texts: list[str] = []
        self.clickables: dict[str, list[str]] = {"btn": [], "product-link": [], "radio": []}
        self.has_search_bar = False
        self._data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._flush()
        attr = dict(attrs)
        if tag == "input" and attr.get("type") == "radio":
            self.clickables["radio"].append(f"{attr.get('value')}")
        if attr.get("id") == "search_input":
            self.has_search_bar = True
        classes = (attr.get("class") or "").split()
        kind = next((k for k in ("btn", "product-link") if k in classes), "")
        if kind:
            self.clickables[kind].append("")
        if tag not in VOID:
            self.stack.append(_Open(tag, kind, len(self.clickables[kind]) - 1 if kind else -1))

    def handle_endtag(self, tag: str) -> None:
        self._flush()
        if all(element.tag != tag for element in self.stack):
            return
        while self.stack:
            element = self.stack.pop()
            if element.kind:
                self.clickables[element.kind][element.slot] = "".join(element.text).lower()
            if element.tag == tag:
                break

    def handle_comment(self, data: str) -> None:
        self._flush()

    def handle_decl(self, decl: str) -> None:
        self._flush()

    def handle_data(self, data: str) -> None:
        self._data.append(data)

    def close(self) -> None:
        """Finish reading (the last text node included)."""
        super().close()
        self._flush()

    def _flush(self) -> None:
        text, self._data = "".join(self._data), []
        if not text:
            return
        if not text.strip(ASCII_SPACES) and all(element.tag not in PRESERVE for element in self.stack):
            text = "\n" if "\n" in text else " "
        for element in self.stack:
            if element.kind:
                element.text.append(text)
        if self.stack and self.stack[-1].tag not in TEXT_HIDDEN and text != "\n":
            self.texts.append(text.strip())


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


def radio_name(value: str, pages: str = "webshop") -> str:
    """The clickable name of an option value: the value itself (``anchorgym-v0``: normalised)."""
    return normalize(value) if pages == "anchorgym-v0" else value


def button_name(text: str, pages: str = "webshop") -> str:
    """The clickable name of a button or product link: its text lower-cased (``anchorgym-v0``: normalised)."""
    return normalize(text) if pages == "anchorgym-v0" else text.lower()


@lru_cache(maxsize=1024)  # GRPO groups revisit the same pages; parsing is the costly part
def read_page(html: str, pages: str = "webshop") -> PageText:
    """Return the simple-mode observation and clickables of a page.

    >>> page = read_page('<html><head><title>x</title></head><body><p> WebShop</p><input type="radio" value="red">'
    ...                  '<a class="product-link">B01</a><button class="btn">Buy  Now</button></body></html>')
    >>> page.observation, page.clickables
    ('WebShop [SEP] B01 [SEP] Buy  Now', ('buy  now', 'b01', 'red'))
    """
    if pages == "anchorgym-v0":
        return _read_page_v0(html)
    reader = _SoupText()
    reader.feed(html)
    reader.close()
    found = [c for kind in ("btn", "product-link", "radio") for c in reader.clickables[kind]]
    return PageText(SEP.join(reader.texts), tuple(dict.fromkeys(found)), reader.has_search_bar)


def _read_page_v0(html: str) -> PageText:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    found = [c for kind in ("btn", "product-link", "radio") for c in reader.clickables[kind]]
    clickables = tuple(dict.fromkeys(c for c in found if c and c != "search"))
    return PageText(SEP.join(reader.texts), clickables, reader.has_search_bar)
