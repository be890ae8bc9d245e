"""The tool-QA prompt (Search-R1's instruction), versioned."""

from __future__ import annotations

from dataclasses import replace

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
