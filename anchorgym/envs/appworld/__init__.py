"""AppWorld: the real AppWorld engine as a code-acting environment (``anchorgym/AppWorld-v0``).

The ``appworld`` package runs in its own venv (:mod:`.venv`) inside worker
processes (:mod:`.client`, :mod:`.worker`); importing this package never imports
it. Tasks come from AppWorld's data when ``APPWORLD_ROOT`` holds it, else from
the offline generator (:mod:`.data`). ``anchorgym data appworld`` builds the venv
and the offline tasks.
"""

from __future__ import annotations

from anchorgym.envs.registry import EnvInfo, register

ENV_ID = "anchorgym/AppWorld-v0"

register(
    EnvInfo(
        id=ENV_ID,
        entry_point="anchorgym.envs.appworld.env:AppWorldEnv",
        splits=("offline", "train", "dev", "test_normal", "test_challenge", "test"),  # offline first: the CLI default
        max_steps=50,
        extra="appworld",
        description="AppWorld (real engine, isolated venv): write Python calling app APIs; offline generated tasks.",
        data="appworld",
        data_installer="anchorgym.envs.appworld.data:install_data",
        data_check="anchorgym.envs.appworld.data:check_installed",
    )
)


def _register_prompt() -> None:
    from anchorgym.envs.appworld.prompts import APPWORLD_TEMPLATE
    from anchorgym.policies.prompting import register_template

    register_template(ENV_ID, APPWORLD_TEMPLATE)


_register_prompt()
