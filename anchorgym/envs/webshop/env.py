"""The WebShop text environment (``anchorgym/WebShop-v2``, and the legacy ``-v1``/``-v0``).

Observations are WebShop's "simple" text mode: the page's visible text joined
with ``[SEP]``. Actions are ``search[query]`` (on the search page) and
``click[element]`` with a clickable's lower-cased text (a button, a product
asin, an option value). ``info["available_actions"]`` is WebShop's
``{"has_search_bar", "clickables"}`` and ``info["admissible_actions"]`` lists
the same as actions (``search[<your query>]`` standing for any query). An
invalid action is a no-op with ``info["invalid_reason"]`` saying why.

Buying ends the episode with reward = ``score`` = WebShop's purchase score in
[0, 1] (``info["reward_parts"]`` has its parts); ``won`` is ``score == 1``.

``mode="browser"`` plays the same episodes through the real site in headless
Chromium (see :mod:`.browser`) and returns the same observations and rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anchorgym.envs.core import AnchorEnv, Transition
from anchorgym.envs.webshop.actions import ACTION_PARSERS, admissible, check, check_webshop
from anchorgym.envs.webshop.anchor import webshop_anchor_state
from anchorgym.envs.webshop.engine import shared_engine
from anchorgym.envs.webshop.goals import split_indices
from anchorgym.envs.webshop.html_text import PageText, read_page
from anchorgym.envs.webshop.state import DONE
from anchorgym.errors import ConfigError, unknown

MODES = ("text", "browser")


class WebShopEnv(AnchorEnv):
    """WebShop: find and buy the product an instruction describes.

    Args:
        split: ``train`` (goals 500..) or ``test`` (goals 0-499).
        max_steps: episode limit (15 by default, as GiGPO).
        anchor_fn: see :mod:`anchorgym.envs.anchors`.
        render_mode: ``"ansi"`` or None.
        data_dir: the WebShop data folder (default: ``$WEBSHOP_DATA``, the user cache, shared data).
        search: ``"bm25s"`` (default), ``"lucene-compat"`` (WebShop's Lucene ranking in Python, WebShop-v2's)
            or ``"lucene"`` (pyserini).
        mode: ``"text"`` (engine in memory) or ``"browser"`` (the real site in Chromium).
        show_attributes: show the Attributes button on item pages (WebShop's text env hides it).
        pages: ``"webshop"`` (WebShop's text-env pages, the default) or ``"anchorgym-v0"``
            (the pages of ``anchorgym/WebShop-v0``, kept so its results replay).
        reward: ``"webshop"`` (WebShop's published score, the default) or ``"anchorgym-v0"``
            (``anchorgym/WebShop-v0``'s score: v2-branch option matching, see :mod:`.reward_legacy`).
        actions: ``"anchorgym"`` (WebShop-v0/v1: a lenient parser, ``< Prev`` by page kind) or ``"webshop"``
            (WebShop-v2: WebShop's ``parse_action`` and its routing of ``< Prev`` by URL substring).
    """

    default_max_steps = 15

    def __init__(
        self,
        split: str = "train",
        max_steps: int | None = None,
        anchor_fn: Any = None,
        render_mode: str | None = None,
        data_dir: str | None = None,
        search: str = "bm25s",
        mode: str = "text",
        show_attributes: bool = False,
        pages: str = "webshop",
        reward: str = "webshop",
        actions: str = "anchorgym",
    ) -> None:
        super().__init__(split, max_steps, anchor_fn, render_mode)
        if mode not in MODES:
            raise unknown("WebShop mode", mode, MODES)
        if actions not in ACTION_PARSERS:
            raise unknown("WebShop actions", actions, ACTION_PARSERS)
        source = None if data_dir is None else str(data_dir)
        routing = "webshop-url" if actions == "webshop" else "state"
        self.actions = actions
        self.engine = shared_engine(source, search, show_attributes, pages, reward, routing)
        self._tasks = [str(i) for i in split_indices(len(self.engine.goals), split)]
        self.mode = mode
        self.front = self._make_front_end()
        self.page = PageText("", (), False)
        self.invalid_reason = ""
        self.reward_parts: dict[str, Any] | None = None
        self.searches: list[str] = []

    def _make_front_end(self) -> Any:
        if self.mode == "browser":
            from anchorgym.envs.webshop.browser import BrowserFrontEnd

            return BrowserFrontEnd(self.engine)
        from anchorgym.envs.webshop.frontends import TextFrontEnd

        return TextFrontEnd(self.engine)

    # ---------------------------------------------------------------- hooks
    def task_ids(self) -> Sequence[str]:
        """Return the goal indices of this split, as strings."""
        return self._tasks

    @property
    def goal(self) -> dict[str, Any]:
        """The current goal (WebShop's goal dict)."""
        return self.engine.goals[self.front.goal_index]

    def _load_task(self, task_id: str) -> str:
        if not task_id.isdigit() or int(task_id) >= len(self.engine.goals):
            raise ConfigError(
                f"WebShop task ids are goal indices 0-{len(self.engine.goals) - 1}, got {task_id!r}. "
                "List a split's ids with env.task_ids()."
            )
        self.front.start(int(task_id))
        self.invalid_reason, self.reward_parts, self.searches = "", None, []
        return self._read()

    def _read(self) -> str:
        self.page = read_page(self.front.html(), self.engine.pages)
        return self.page.observation

    def parse_action(self, action: str) -> str | None:
        """Return ``search[query]``/``click[element]`` in canonical form, or None (reason kept)."""
        if self.actions == "webshop":
            checked = check_webshop(action, self.page)
        else:
            checked = check(action, self.page, self.engine.pages)
        self.invalid_reason = checked.reason
        return checked.canonical

    def _apply(self, action: str) -> Transition:
        name, argument = action[:-1].split("[", 1)
        if name == "search":
            self.searches.append(argument)
            self.front.search(argument)
        else:
            self.front.click(argument)
        observation = self._read()
        if self.front.state.kind != DONE:
            return Transition(observation)
        self.reward_parts = self.engine.buy(self.front.state, self.goal).to_dict()
        self.won = self.front.score == 1.0
        return Transition(observation, float(self.front.score), True, {"reward_parts": self.reward_parts})

    def anchor_state(self) -> dict[str, Any]:
        """Return the page identity and state (see :mod:`.anchor`)."""
        return webshop_anchor_state(self.task_id, self.front.state)

    def admissible_actions(self) -> list[str]:
        """Return ``search[<your query>]`` (when there is a search bar) and ``click[...]`` per clickable."""
        return admissible(self.page)

    @property
    def instruction(self) -> str:
        """The goal's instruction text."""
        return self.goal["instruction_text"] if self.task_id else ""

    @property
    def task_type(self) -> str:
        """The goal product's WebShop category (beauty, electronics, fashion, food, garden)."""
        return self.goal["category"] if self.task_id else "webshop"

    @property
    def score(self) -> float:
        """The purchase score (0 until something is bought)."""
        return float(self.front.score or 0.0)

    def expert_action(self) -> str:
        """Return the scripted expert's next action (see :mod:`.expert`)."""
        from anchorgym.envs.webshop.expert import expert_action

        return expert_action(self)

    def dataset_hashes(self) -> dict[str, str]:
        """Return the sha256 of the data files this env reads (recorded in results)."""
        from anchorgym.envs.webshop.data import file_hashes

        return file_hashes(self.engine.data.source)

    def close(self) -> None:
        """Close the browser and site in browser mode."""
        self.front.close()
        super().close()

    def _info(self, action_valid: bool, extra: dict[str, Any]) -> dict[str, Any]:
        info = super()._info(action_valid, extra)
        info["available_actions"] = {
            "has_search_bar": self.page.has_search_bar,
            "clickables": list(self.page.clickables),
        }
        info["invalid_reason"] = "" if action_valid else self.invalid_reason
        return info
