"""A real anchorgym env whose step raises on the action "crash", for the session isolation tests."""

from __future__ import annotations

from anchorgym.envs.core import Transition
from anchorgym.envs.registry import EnvInfo, register
from anchorgym.envs.sokoban.env import SokobanEnv

CRASHY_ID = "anchorgym-test/CrashySokoban-v0"


class CrashySokoban(SokobanEnv):
    """Sokoban, except that the action "crash" raises inside the env."""

    def parse_action(self, action: str) -> str | None:
        return "crash" if action.strip() == "crash" else super().parse_action(action)

    def _apply(self, action: str) -> Transition:
        if action == "crash":
            raise RuntimeError("the engine fell over")
        return super()._apply(action)


register(EnvInfo(id=CRASHY_ID, entry_point=f"{__name__}:CrashySokoban", splits=("train", "test"), max_steps=15))
