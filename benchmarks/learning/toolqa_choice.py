"""Synthetic tool-QA with a closed action menu, so the tiny untrained model of the CPU runs can act.

The real env (``anchorgym/ToolQA-v0``) takes free text; a random-init 0.2 M-parameter model never
writes a well-formed ``<search>`` tag, so it would earn no reward to learn from. This subclass
offers three actions at every step, in sorted (content, not position) order:

* the chain expert's next action (search the current entity, or answer once the chain is walked);
* ``<search>QUESTION</search>``: a real search that usually wastes the turn;
* ``<answer>START</answer>``: answers the question's start entity, always wrong.

Everything else (retrieval, reward, anchors = question + passages seen) is the real env. Only
for benchmarks/learning; not registered by the library.
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register
from anchorgym.envs.toolqa.env import ToolQAEnv
from anchorgym.envs.toolqa.expert import answer, search
from anchorgym.policies.prompting import register_template, template_for

ENV_ID = "anchorgym-bench/ToolQAChoice-v0"


class ToolQAChoiceEnv(ToolQAEnv):
    """:class:`ToolQAEnv` whose admissible actions are the three-item menu of the module docs."""

    def admissible_actions(self) -> list[str]:
        """The expert's next action and two distractors, sorted."""
        menu = {self.expert_action(), search(self.task.question), answer(self.task.meta["start"])}
        return sorted(menu)


def register_toolqa_choice() -> str:
    """Register the env under :data:`ENV_ID` with the tool-QA prompt template (idempotent); return the id."""
    register(EnvInfo(id=ENV_ID, entry_point=f"{__name__}:ToolQAChoiceEnv", splits=("train", "test"), max_steps=4))
    register_template(ENV_ID, template_for("anchorgym/ToolQA-v0"))
    return ENV_ID
