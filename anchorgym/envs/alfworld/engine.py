"""One ALFWorld game on the real engine: TextWorld's ``PddlEnv`` with alfworld's wrappers.

The stock set-up is exactly what alfworld's ``AlfredTWEnv`` builds for each
game: ``textworld.start(game_file, infos, [AlfredDemangler(shuffle=False),
AlfredInfos])``, loaded afresh for every episode. The fast set-up plays the same
engine with the memoised parsers of :mod:`.speedups` and keeps one engine warm
for its whole life: a reset on the game already loaded skips the reload (the
engine's own ``reset`` rebuilds the PDDL state from the problem text either
way), and a new game is loaded into the same engine. The stock set-up's fresh
engine per game loads a private copy of Fast Downward's shared library each
time, which is never unloaded: that is its memory growth over episodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anchorgym.envs.alfworld import speedups
from anchorgym.errors import missing_extra


def _require_engine() -> None:
    try:
        import alfworld.agents.environment.alfred_tw_env  # noqa: F401
        import fast_downward  # noqa: F401
        import textworld  # noqa: F401
    except ImportError as error:
        raise missing_extra(error.name or "alfworld", "alfworld") from error


class Game:
    """A warm engine session playing ALFWorld ``game.tw-pddl`` files.

    Args:
        fast: use the speed-ups (memoised parsing, warm reloads); False is the stock engine.
        facts: ask the engine for human-readable facts (the handcoded expert reads them).
    """

    def __init__(self, fast: bool = True, facts: bool = False) -> None:
        _require_engine()
        self.fast = fast
        self.facts = facts
        self.path: Path | None = None
        self.env: Any = None
        self.state: Any = None

    def _select(self) -> None:
        """Install or remove the process-wide speed-ups for this session's next engine call."""
        (speedups.enable if self.fast else speedups.disable)()

    def _start(self, path: Path) -> Any:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

        infos = textworld.EnvInfos(won=True, admissible_commands=True, facts=self.facts, extras=["gamefile"])
        return textworld.start(str(path), infos, wrappers=[AlfredDemangler(shuffle=False), AlfredInfos])

    def reset(self, path: Path) -> Any:
        """Start an episode of the game at ``path``; return the engine's ``GameState``."""
        self._select()
        if self.env is None or not self.fast:
            self.close()
            self.env = self._start(path)
        elif path != self.path:
            self.env.load(str(path))  # same engine: each new one dlopens its own copy of libdownward, never freed
        self.path = path
        self.state = self.env.reset()
        return self.state

    def step(self, command: str) -> Any:
        """Apply an admissible ``command``; return the new ``GameState``."""
        self._select()
        self.state, _, _ = self.env.step(command)
        return self.state

    @property
    def pddl(self) -> Any:
        """The engine's ``PddlEnv`` (its PDDL state, entity names, grammar)."""
        return self.env.unwrapped

    def close(self) -> None:
        """Release the engine."""
        if self.env is not None:
            self.env.close()
        self.env = None
        self.path = None
