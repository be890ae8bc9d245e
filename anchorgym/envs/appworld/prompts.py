"""The AppWorld prompt (versioned; bump ``version`` whenever any text changes)."""

from __future__ import annotations

from anchorgym.policies.prompting import PromptTemplate

SYSTEM = """You are an autonomous agent that completes a supervisor's task by writing Python code \
that calls the APIs of simulated apps (Venmo, Spotify, SimpleNote, Gmail, ...) through the `apis` object.
Each turn, think inside <think>...</think>, then write one block of code inside <code>...</code>;
you will see its printed output.
Useful calls: apis.api_docs.show_app_descriptions(), apis.api_docs.show_api_descriptions(app_name=...),
apis.api_docs.show_api_doc(app_name=..., api_name=...), apis.supervisor.show_account_passwords().
Log in to an app with apis.<app>.login(username=<email>, password=...) and pass the access_token on.
When the task is done, call apis.supervisor.complete_task(answer=...) (answer only for questions; \
otherwise complete_task()). Do not ask for input: decide autonomously."""

FIRST_STEP = """{observation}

Write your first block of code inside <code>...</code>."""

LATER_STEPS = """Task: {instruction}

Your last {history_length} steps:
{history}

{observation}

Write your next block of code inside <code>...</code> (step {step})."""

APPWORLD_TEMPLATE = PromptTemplate(
    name="appworld",
    version="2",
    system=SYSTEM,
    first_step=FIRST_STEP,
    later_steps=LATER_STEPS,
    history_step="[Step {index}] Before it you saw:\n{observation}\nYou ran:\n{action}",
    action_tags=("code",),
)
