"""The in-process reference episode that the OpenEnv server and MCP tests compare their clients' episodes with."""

from __future__ import annotations

from anchorgym.integrations.openenv.types import jsonable

INVALID = "dance a jig"


def in_process_episode(env, seed, task_id=None, invalid_every=3, limit=40):
    """Play the expert (with an invalid action every few steps); return the actions and every transition.

    The first record is the reset's ``(observation, info)``, each later one a step's
    ``(observation, reward, terminated, truncated, info)``; infos are made JSON-plain as a client sees them.
    """
    obs, info = env.reset(seed=seed, options={"task_id": task_id} if task_id else None)
    record = [(obs, jsonable(info))]
    actions = []
    for step in range(1, limit + 1):
        action = INVALID if step % invalid_every == 0 else env.expert_action()
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        record.append((obs, reward, terminated, truncated, jsonable(info)))
        if terminated or truncated:
            break
    return actions, record
