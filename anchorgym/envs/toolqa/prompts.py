"""The tool-QA prompt (Search-R1's instruction), versioned."""

from __future__ import annotations

from dataclasses import dataclass, replace

from anchorgym.envs.toolqa.protocol import parse_search_r1
from anchorgym.envs.toolqa.transcript import turn_text
from anchorgym.policies.base import AgentInput
from anchorgym.policies.parsing import ParsedAction
from anchorgym.policies.prompting import PromptTemplate

# Search-R1's instruction text, so models trained there can be evaluated here unchanged.
INTRO = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> first every time you get "
    "new information. After reasoning, if you find you lack some knowledge, you can call a search engine by "
    "<search> query </search> and it will return the top searched results between <information> and "
    "</information>. You can search as many times as your want. If you find no further external knowledge needed, "
    "you can directly provide the answer inside <answer> and </answer>, without detailed illustrations. For "
    "example, <answer> Beijing </answer>."
)

TOOLQA_TEMPLATE = PromptTemplate(
    name="toolqa",
    version="1",
    system="You are a helpful assistant that answers questions with the help of a search engine.",
    first_step=INTRO + " Question: {instruction}\n",
    later_steps=(
        INTRO + " Question: {instruction}\n\nYour last {history_length} turns:\n{history}\n\n"
        "Turn {step}. Latest result:\n{observation}\n"
    ),
    history_step="[Turn {index}] Result: {observation}\nYou wrote: {action}",
    action_tags=("search", "answer"),
)


# The same texts for ``ToolQA-v1`` (Search-R1's turn rules): the policy sends its whole turn and the env
# reads it as Search-R1 does (first complete tag, case-sensitive), so no tag is picked policy-side.
SEARCH_R1_TEMPLATE = replace(TOOLQA_TEMPLATE, version="2", raw_turns=True)


def search_r1_prompt(question: str) -> str:
    """Search-R1's prompt for one question (``make_prefix``, template ``base``), byte for byte."""
    return f"{INTRO} Question: {question}\n"


@dataclass(frozen=True)
class SearchR1Template(PromptTemplate):
    r"""Search-R1's evaluation prompt: its ``make_prefix`` as the one user message, no system message.

    Later turns add the trajectory so far as the assistant's message: each turn cut as Search-R1
    cuts it, then ``\n\n<information>...</information>\n\n`` or the invalid-action message
    (:func:`~anchorgym.envs.toolqa.transcript.turn_text`), the text Search-R1's rollout feeds back.
    Policies send the whole turn (the env reads it under Search-R1's rules) and report Search-R1's
    ``valid_action`` (a complete search or answer tag) as ``parsed``.
    """

    def messages(self, agent_input: AgentInput, history_length: int = 0) -> list[dict[str, str]]:
        """The user prompt, then the trajectory so far (the whole episode, whatever ``history_length``)."""
        prompt = [{"role": "user", "content": search_r1_prompt(agent_input.instruction)}]
        if not agent_input.full_history:
            return prompt
        return [*prompt, {"role": "assistant", "content": self.trajectory(agent_input)}]

    def trajectory(self, agent_input: AgentInput) -> str:
        """Search-R1's response text before this turn: every past turn and what it was shown."""
        turns = [action for _, action in agent_input.full_history]
        shown = [observation for observation, _ in agent_input.full_history[1:]] + [agent_input.observation]
        return "".join(
            turn_text(turn, observation, parse_search_r1(turn) is not None, last_turn=False)
            for turn, observation in zip(turns, shown, strict=True)
        )

    def project(self, text: str, agent_input: AgentInput | None = None) -> ParsedAction:
        """Send the whole turn; ``parsed`` is Search-R1's ``valid_action``."""
        return ParsedAction(text, True) if parse_search_r1(text) is not None else ParsedAction(text, False, "missing")


SEARCH_R1_PROTOCOL_TEMPLATE = SearchR1Template(
    name="toolqa-search-r1",
    version="1",
    system="",
    first_step=INTRO + " Question: {instruction}\n",
    later_steps=INTRO + " Question: {instruction}\n",
    history_step="{action}",
    action_tags=("search", "answer"),
    raw_turns=True,
)
"""The ``ToolQA-v2`` prompt (the ``*-search-r1`` benchmarks)."""
