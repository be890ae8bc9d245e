"""AppWorld stays out of the main venv: importing anchorgym never imports appworld, pydantic stays 2."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from anchorgym.envs.appworld.env import AppWorldEnv
from anchorgym.envs.appworld.expert import as_action
from anchorgym.envs.registry import env_info
from anchorgym.policies.prompting import template_for


def test_importing_anchorgym_and_the_env_never_imports_appworld():
    code = (
        "import sys, anchorgym, anchorgym.envs.appworld.env, anchorgym.envs.appworld.data;"
        "from anchorgym.envs import list_envs; list_envs();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('appworld', 'pydantic', 'sqlmodel')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_main_venv_keeps_pydantic_2():
    assert importlib.metadata.version("pydantic").split(".")[0] == "2"
    try:
        importlib.metadata.version("appworld")
    except importlib.metadata.PackageNotFoundError:
        return
    raise AssertionError("appworld is installed in the main venv; it must live only in its own venv")


def test_registered_with_its_prompt_and_installer():
    info = env_info("anchorgym/AppWorld-v0")
    assert info.max_steps == 50
    # "train" and "test" also name the suite's splits (source="suite": families held out of train)
    assert info.splits == ("offline", "train", "dev", "test_normal", "test_challenge", "test")
    assert info.data_installer == "anchorgym.envs.appworld.data:install_data"
    assert template_for("anchorgym/AppWorld-v0").action_tags == ("code",)


def test_actions_are_code_in_code_tags():
    parse = AppWorldEnv.parse_action
    assert parse(None, "<think>x</think><code>\nprint(1)\n</code>") == "print(1)"
    assert parse(None, "<code>a = 1</code> then <code>b = 2</code>") == "b = 2"
    assert parse(None, "print(1)") is None
    assert parse(None, "<code>  </code>") is None
    assert as_action(" x = 1 ") == "<code>\nx = 1\n</code>"


def test_prompt_renders_the_observation_and_asks_for_code():
    from anchorgym.policies.base import AgentInput

    template = template_for("anchorgym/AppWorld-v0")
    agent_input = AgentInput("anchorgym/AppWorld-v0", "Pay Bob", "Task: Pay Bob\nOutput: x")
    system, user = template.messages(agent_input)
    assert "apis.supervisor.complete_task" in system["content"]
    assert user["content"] == "Task: Pay Bob\nOutput: x\n\nWrite your first block of code inside <code>...</code>."


def test_later_prompts_show_past_code_and_outputs():
    from anchorgym.policies.base import AgentInput

    template = template_for("anchorgym/AppWorld-v0")
    agent_input = AgentInput("anchorgym/AppWorld-v0", "Pay Bob", "Output: ok", history=[("Output: -", "x = 1")], step=1)
    user = template.messages(agent_input)[1]["content"]
    assert "[Step 1] Before it you saw:\nOutput: -\nYou ran:\nx = 1" in user and user.endswith("(step 2).")
