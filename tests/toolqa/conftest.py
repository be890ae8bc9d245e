import json

import pytest

from anchorgym.envs.toolqa import data
from anchorgym.envs.toolqa.retrieval import build_index
from anchorgym.envs.toolqa.server import RetrievalServer

DEFAULT_OPTIONS = json.dumps(
    {"synthetic": None, "data_dir": None, "corpus": None, "pad_wiki": False, "need_corpus": True}, sort_keys=True
)


@pytest.fixture(scope="session")
def synthetic_test():
    """The default synthetic test split (world, corpus and 200 questions)."""
    return data.load("synthetic", "test", DEFAULT_OPTIONS)


@pytest.fixture(scope="session")
def server(synthetic_test):
    """A real BM25 retrieval server on 127.0.0.1 (free port) over the synthetic test corpus."""
    running = RetrievalServer(build_index("bm25", synthetic_test.passages)).start()
    yield running
    running.stop()
