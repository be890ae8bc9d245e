"""The WebShop web site: a Flask app over the shared engine.

Pages (``SID`` is a shopping session; ``?goal=N`` binds it to goal ``N``,
else a random goal is drawn):

* ``GET /`` starts a new session; ``GET /SID`` is the search page;
* ``GET /SID/search?q=...&page=N`` results, 10 per page, ``< Prev``/``Next >``;
* ``GET /SID/item/ASIN?q&page&options`` the item with its option choices;
* ``GET /SID/item/ASIN/{Description,Features,Reviews,Attributes}`` sub-pages;
* ``POST /SID/buy/ASIN?options`` buys and shows the done page with the score (GET too, as WebShop).

A malformed page number or options value is a 400; an unknown item, option,
sub-page, or results page (``anchorgym-v0`` pages: past the last) a 404.

Every page's state is in its URL (:mod:`.state`), so the site and the text env
render identical pages for identical states.
"""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path
from typing import Any

from anchorgym.envs.webshop.engine import WebShopEngine
from anchorgym.envs.webshop.state import DONE, RESULTS, SEARCH, SUB_PAGE, SUB_PAGES, PageState, url_state

STATIC = Path(__file__).with_name("static")
MAX_PAGE = 10**6  # results pages past this are a 404


def _valid(engine: WebShopEngine, state: PageState) -> bool:
    """Whether ``state`` is a page the shop has (an existing result page, item, offered option, sub-page)."""
    if state.kind == RESULTS:  # WebShop's Next > leads past the last page, to an empty one
        # and its < Prev, routed by URL (WebShop-v2), from an item of page 1 to an empty page 0
        first = 0 if engine.routing == "webshop-url" else 1
        return first <= state.page <= (MAX_PAGE if engine.pages == "webshop" else engine.num_pages(state.query))
    if state.kind == SEARCH:
        return True
    if state.page < 1 or state.asin not in engine.data.by_asin:
        return False
    offered = engine.product(state.asin)["options"]
    if any(value not in offered.get(name, ()) for name, value in state.options):
        return False
    return state.kind != SUB_PAGE or state.sub_page in SUB_PAGES


def create_app(engine: WebShopEngine, seed: int | None = None) -> Any:
    """Return the Flask app serving ``engine`` (``seed`` fixes the random goals of new sessions)."""
    from flask import Flask, abort, redirect, request

    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    goals: dict[str, int] = {}
    lock, rng = threading.Lock(), random.Random(seed)

    def goal_of(session: str) -> int:
        with lock:
            asked = request.args.get("goal", "")
            if asked.isdigit() and int(asked) < len(engine.goals):
                goals[session] = int(asked)
            elif session not in goals:
                goals[session] = rng.randrange(len(engine.goals))
            return goals[session]

    def page(session: str) -> str:
        try:
            state = url_state(request.full_path)
        except ValueError:  # a hand-edited URL: bad page number or options
            abort(400)
        if not _valid(engine, state):
            abort(404)
        goal = engine.goals[goal_of(session)]
        score = engine.buy(state, goal).score if state.kind == DONE else None
        return engine.render(state, goal["instruction_text"], session, score)

    app.add_url_rule("/", "index", lambda: redirect(f"/{uuid.uuid4().hex[:12]}"))
    app.add_url_rule("/<session>", "search_page", page)
    app.add_url_rule("/<session>/search", "results", page)
    app.add_url_rule("/<session>/item/<asin>", "item", lambda session, asin: page(session))
    app.add_url_rule("/<session>/item/<asin>/<sub>", "sub_page", lambda session, asin, sub: page(session))
    app.add_url_rule("/<session>/buy/<asin>", "buy", lambda session, asin: page(session), methods=["GET", "POST"])
    app.add_url_rule("/favicon.ico", "favicon", lambda: ("", 204))
    return app


class SiteServer:
    """Serve the site on 127.0.0.1 in a background thread (port 0: a free port).

    Args:
        engine: the shop engine.
        port: the port; 0 picks a free one.
    """

    def __init__(self, engine: WebShopEngine, port: int = 0) -> None:
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request lines in env logs
        self._server = make_server("127.0.0.1", port, create_app(engine), threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._thread.join(timeout=5)
