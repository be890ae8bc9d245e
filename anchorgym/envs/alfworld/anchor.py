"""The ALFWorld anchor: the engine's true PDDL state, not the observation text.

The observation aliases states: "Nothing happens.", "You arrive at desk 1. On the
desk 1, you see nothing." or a ``look`` reads the same whether or not the agent
holds something, has opened a drawer elsewhere or has heated the apple. The
anchor is instead the set of the PDDL facts that actions change: where the agent
is, what it holds, what is inside or on what, what is open, and the object
states the tasks test (clean, hot, cool, sliced, toggled). Facts that
never change in a game (object types, receptacle positions, capabilities) are
left out: they are the same for every state of a game, so they would only make
the digest slower to compute.
"""

from __future__ import annotations

from typing import Any

# The predicates in the effects of ALFWorld's PDDL actions (alfred.pddl), lower-cased as the engine stores them,
# except ``checked``: a bookkeeping mark that look, inventory, help and visits set, which no precondition, goal
# or text rule ever reads, so states differing only in it play identically.
DYNAMIC_PREDICATES = frozenset(
    {
        "atlocation",
        "full",
        "holds",
        "holdsany",
        "holdsanyreceptacleobject",
        "inreceptacle",
        "inreceptacleobject",
        "isclean",
        "iscool",
        "ishot",
        "ison",
        "isreceptacleobjectfull",
        "issliced",
        "istoggled",
        "objectatlocation",
        "opened",
    }
)


def state_of(pddl_env: Any) -> list[str]:
    """Return the sorted dynamic facts of a TextWorld ``PddlEnv``, e.g. ``"holds agent1 Apple_..."``."""
    facts = pddl_env._pddl_state.facts
    return sorted(f"{p.name} {' '.join(p.names)}" for p in facts if p.name in DYNAMIC_PREDICATES)
