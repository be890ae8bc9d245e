"""Fixtures for the WebShop tests: the shared 1,000-product data and one engine per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def webshop_dir(shared_file):
    return shared_file("webshop", "products_1k.json").parent


@pytest.fixture(scope="session")
def engine(webshop_dir):
    from anchorgym.envs.webshop.engine import shared_engine

    return shared_engine(str(webshop_dir))


@pytest.fixture
def env(webshop_dir):
    from anchorgym.envs.registry import make

    env = make("anchorgym/WebShop-v1", split="test", data_dir=str(webshop_dir))
    yield env
    env.close()
