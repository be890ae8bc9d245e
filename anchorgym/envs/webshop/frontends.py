"""The text front end: drives the engine directly, no HTTP.

A front end shows pages and performs actions; the env reads every page's HTML
with :func:`~anchorgym.envs.webshop.html_text.read_page`. The browser front end
(:mod:`.browser`) has the same methods and plays the real site in Chromium.
"""

from __future__ import annotations

from anchorgym.envs.webshop.engine import WebShopEngine
from anchorgym.envs.webshop.state import DONE, RESULTS, PageState

TEXT_SESSION = "text"


class TextFrontEnd:
    """Plays episodes on the engine in memory.

    Args:
        engine: the shared shop engine.
    """

    def __init__(self, engine: WebShopEngine) -> None:
        self.engine = engine
        self.state = PageState()
        self.score: float | None = None
        self.goal_index = 0

    def start(self, goal_index: int) -> None:
        """Open the search page for goal ``goal_index``."""
        self.goal_index, self.state, self.score = goal_index, PageState(), None

    def html(self) -> str:
        """Return the current page's HTML."""
        instruction = self.engine.goals[self.goal_index]["instruction_text"]
        return self.engine.render(self.state, instruction, TEXT_SESSION, self.score)

    def search(self, query: str) -> None:
        """Submit ``query`` in the search box."""
        self.state = PageState(RESULTS, query, 1)

    def click(self, element: str) -> None:
        """Click the clickable ``element`` (lower-cased text or option value)."""
        self.state = self.engine.click(self.state, element)
        if self.state.kind == DONE:
            self.score = self.engine.buy(self.state, self.engine.goals[self.goal_index]).score

    def close(self) -> None:
        """Release nothing (the text front end holds no resources)."""
