"""Tool-QA: search-augmented multi-turn question answering (Search-R1 protocol).

Registers ``anchorgym/ToolQA-v0`` (the ``@v1`` benchmarks' turn rules, ``protocol="legacy"``) and
``anchorgym/ToolQA-v1`` (Search-R1's turn rules, ``protocol="search-r1"``, with a prompt template whose
policies send the whole turn) and ``anchorgym/ToolQA-v2`` (Search-R1's evaluation: its prompt and
trajectory text, turn rules, question data step and whole-text scoring; the ``*-search-r1``
benchmarks); see :mod:`.protocol` for the rules, :mod:`.env` for the env and
:mod:`.data` for the data sets (``synthetic`` default, ``hotpot-sample``, or a path).
"""

from anchorgym.envs.registry import EnvInfo, register
from anchorgym.envs.toolqa.prompts import SEARCH_R1_PROTOCOL_TEMPLATE, SEARCH_R1_TEMPLATE, TOOLQA_TEMPLATE
from anchorgym.policies.prompting import register_template

ENV_ID = "anchorgym/ToolQA-v0"
SEARCH_R1_ENV_ID = "anchorgym/ToolQA-v1"
SEARCH_R1_PROTOCOL_ENV_ID = "anchorgym/ToolQA-v2"


def _register(env_id: str, max_steps: int, description: str, **kwargs: str | bool) -> None:
    register(
        EnvInfo(
            id=env_id,
            entry_point="anchorgym.envs.toolqa.env:ToolQAEnv",
            splits=("train", "test", "dev"),
            max_steps=max_steps,
            extra="toolqa",
            requires=("bm25s",),
            description=description,
            data="hotpot-sample",
            data_installer="anchorgym.envs.toolqa.data:install",
            kwargs={"dataset": "synthetic", **kwargs},
        )
    )


_register(ENV_ID, 4, "Search-R1-style multi-hop QA with a search tool (synthetic default, HotpotQA sample).")
# Search-R1's evaluation: max_turns=4 plus its answer-only last turn.
_register(
    SEARCH_R1_ENV_ID,
    5,
    "Multi-hop QA under Search-R1's own turn rules (first closing tag decides).",
    protocol="search-r1",
)
_register(
    SEARCH_R1_PROTOCOL_ENV_ID,
    5,
    "Multi-hop QA under Search-R1's evaluation: its prompt, turn rules and whole-text exact-match scoring.",
    protocol="search-r1",
    scoring="transcript",
    question_mark=True,
)
register_template(ENV_ID, TOOLQA_TEMPLATE)
register_template(SEARCH_R1_ENV_ID, SEARCH_R1_TEMPLATE)
register_template(SEARCH_R1_PROTOCOL_ENV_ID, SEARCH_R1_PROTOCOL_TEMPLATE)
