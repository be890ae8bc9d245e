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


def play_episode(env, task_id, scripted):
    """One episode: scripted actions first, then the expert; returns every step's outputs."""
    trace = [env.reset(options={"task_id": task_id})]
    for turn in range(env.max_steps):
        action = scripted[turn] if turn < len(scripted) else env.expert_action()
        trace.append(env.step(action))
        if trace[-1][2] or trace[-1][3]:
            break
    return trace


@pytest.fixture
def play():
    """``play(env, task_id, scripted_actions)``: the outputs of one episode (see :func:`play_episode`)."""
    return play_episode
