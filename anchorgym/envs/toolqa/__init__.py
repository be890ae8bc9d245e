"""Tool-QA: search-augmented multi-turn question answering (Search-R1 protocol).

Registers ``anchorgym/ToolQA-v0``; see :mod:`.env` for the protocol and :mod:`.data`
for the data sets (``synthetic`` default, ``hotpot-sample``, or a path).
"""

from anchorgym.envs.registry import EnvInfo, register
from anchorgym.envs.toolqa.prompts import TOOLQA_TEMPLATE
from anchorgym.policies.prompting import register_template

ENV_ID = "anchorgym/ToolQA-v0"

register(
    EnvInfo(
        id=ENV_ID,
        entry_point="anchorgym.envs.toolqa.env:ToolQAEnv",
        splits=("train", "test", "dev"),
        max_steps=4,
        extra="toolqa",
        requires=("bm25s",),
        description="Search-R1-style multi-hop QA with a search tool (synthetic default, HotpotQA sample).",
        data="hotpot-sample",
        data_installer="anchorgym.envs.toolqa.data:install",
        kwargs={"dataset": "synthetic"},
    )
)
register_template(ENV_ID, TOOLQA_TEMPLATE)
