"""The Sokoban expert: optimal moves from the solver, re-planned from the current state."""

from __future__ import annotations

from anchorgym.envs.sokoban.board import DIRECTIONS, Pos, Puzzle, move
from anchorgym.envs.sokoban.solver import solve

FALLBACK_ACTION = "up"


class Expert:
    """Follows a cached optimal plan while the state matches it, and re-plans otherwise."""

    def __init__(self) -> None:
        self._plan: dict[tuple[Pos, frozenset[Pos]], str] = {}
        self._puzzle: Puzzle | None = None

    def next_action(self, puzzle: Puzzle, player: Pos, boxes: frozenset[Pos]) -> str:
        """Return the first move of a shortest plan from ``(player, boxes)``.

        A deadlocked state (a box that can no longer reach a target) has no
        plan; the expert then answers ``"up"``, a harmless move.
        """
        if puzzle is not self._puzzle:
            self._puzzle, self._plan = puzzle, {}
        state = (player, boxes)
        if state not in self._plan:
            self._plan = self._replan(puzzle, player, boxes)
        return self._plan.get(state, FALLBACK_ACTION)

    @staticmethod
    def _replan(puzzle: Puzzle, player: Pos, boxes: frozenset[Pos]) -> dict[tuple[Pos, frozenset[Pos]], str]:
        """Map every state along a fresh optimal plan to its next action."""
        plan = solve(puzzle.floor, frozenset(puzzle.targets), player, boxes) or []
        states = {}
        for action in plan:
            states[(player, boxes)] = action
            player, boxes, _ = move(puzzle.floor, player, boxes, DIRECTIONS[action])
        return states
