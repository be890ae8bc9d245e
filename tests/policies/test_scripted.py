from __future__ import annotations

import pytest
from policies_toyenv import COUNTER_ID, OPEN_COUNTER_ID

from anchorgym.envs.registry import list_envs
from anchorgym.envs.vector import make_vec
from anchorgym.errors import PolicyError
from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput
from anchorgym.policies.registry import make_policy, parse_spec


def run_episode(env_id: str, policy: Policy, num_tasks: int = 2, group_size: int = 2, steps: int = 20):
    """Roll out one batch of episodes; return (won per env, actions per env)."""
    envs = make_vec(env_id, num_tasks=num_tasks, group_size=group_size, seed=3)
    policy.bind(envs)
    obs, infos = envs.reset()
    actions_taken: list[list[str]] = [[] for _ in range(envs.num_envs)]
    won = [False] * envs.num_envs
    for _ in range(steps):
        active = [i for i in range(envs.num_envs) if envs.active[i]]
        if not active:
            break
        inputs = [
            AgentInput(env_id, infos["instruction"][i], obs[i], infos["admissible_actions"][i], env_index=i)
            for i in active
        ]
        actions = [""] * envs.num_envs
        for i, out in zip(active, policy.act(inputs), strict=True):
            actions[i] = out.action
            actions_taken[i].append(out.action)
        obs, _, _, _, step_infos = envs.step(actions)
        for i in active:
            won[i] = bool(step_infos["won"][i])
        infos = {key: _merge(infos, step_infos, key) for key in ("instruction", "admissible_actions")}
    envs.close()
    return won, actions_taken


def _merge(old: dict, new: dict, key: str) -> list:
    mask = new.get("_" + key, [False] * len(old[key]))
    return [new[key][i] if mask[i] else old[key][i] for i in range(len(old[key]))]


def test_expert_solves_counter_in_the_fewest_steps():
    won, actions = run_episode(COUNTER_ID, make_policy("expert"))
    assert all(won)
    # targets are drawn per group; the greedy expert's plan length is fixed by the target
    for plan in actions:
        assert plan.count("add 3") * 3 + plan.count("add 1") - plan.count("sub 1") in (2, 4, 7, 10)


def test_expert_solves_sokoban():
    if "anchorgym/Sokoban-v0" not in {info.id for info in list_envs()}:
        pytest.skip("anchorgym/Sokoban-v0 is not registered yet")
    won, _ = run_episode("anchorgym/Sokoban-v0", make_policy("expert"), num_tasks=2, group_size=1, steps=200)
    assert all(won)


def test_random_is_uniform_over_admissible_and_seeded():
    inputs = [AgentInput("x", "i", "o", ["a", "b", "c"], env_index=k) for k in range(3000)]
    first = [o.action for o in make_policy("random", GenerationConfig(seed=5)).act(inputs)]
    again = [o.action for o in make_policy("random", GenerationConfig(seed=5)).act(inputs)]
    other = [o.action for o in make_policy("random", GenerationConfig(seed=6)).act(inputs)]
    assert first == again and first != other
    counts = {a: first.count(a) for a in "abc"}
    assert set(counts) == {"a", "b", "c"} and all(900 < c < 1100 for c in counts.values())


def test_random_uses_env_random_action_for_open_spaces():
    policy = make_policy("random")
    won, actions = run_episode(OPEN_COUNTER_ID, policy, steps=5)
    assert all(a.startswith("add ") and -2 <= int(a.split()[1]) <= 3 for plan in actions for a in plan)


def test_random_without_env_help_errors_clearly():
    with pytest.raises(PolicyError, match="action space is open"):
        make_policy("random").act([AgentInput(OPEN_COUNTER_ID, "i", "o", None)])


def test_expert_needs_binding_and_an_expert():
    with pytest.raises(PolicyError, match="must be bound"):
        make_policy("expert").act([AgentInput(COUNTER_ID, "i", "o", ["add 1"])])


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("random", ("random", "")),
        ("hf:/models/qwen", ("hf", "/models/qwen")),
        ("openai:http://h:1/v1?model=m", ("openai", "http://h:1/v1?model=m")),
        ("vllm:/m", ("vllm", "/m")),
        ("my.pkg:factory", ("module", "my.pkg:factory")),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "hf:", "hff", "random:x", "openai", "a b:c"])
def test_malformed_spec_lists_forms(spec):
    with pytest.raises(PolicyError, match="Accepted forms: random; expert; hf:PATH_OR_ALIAS"):
        make_policy(spec)


def test_malformed_spec_suggests():
    with pytest.raises(PolicyError, match="Did you mean 'expert'"):
        make_policy("exprt")


class EchoPolicy(Policy):
    def __init__(self, generation: GenerationConfig, word: str = "hi") -> None:
        self.word = word

    def act(self, inputs):
        return [PolicyOutput(self.word, self.word) for _ in inputs]


def make_echo(generation: GenerationConfig, **options) -> Policy:
    return EchoPolicy(generation, **options)


def not_a_policy(generation: GenerationConfig) -> str:
    return "nope"


def test_module_callable_spec():
    policy = make_policy("test_scripted:make_echo", GenerationConfig(seed=1), word="yo")
    assert policy.act([AgentInput("x", "i", "o")])[0].action == "yo"
    assert policy.describe() == {
        "spec": "test_scripted:make_echo",
        "class": "EchoPolicy",
        "generation": {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256, "seed": 1},
    }
    with pytest.raises(PolicyError, match="returned str, not an anchorgym Policy"):
        make_policy("test_scripted:not_a_policy")
    with pytest.raises(PolicyError, match="has no attribute 'make_ech'. Did you mean 'make_echo'"):
        make_policy("test_scripted:make_ech")


def needs_a_word(word: str) -> Policy:
    return EchoPolicy(GenerationConfig(), word)


def test_module_callable_with_the_wrong_signature_is_a_clear_error():
    with pytest.raises(PolicyError) as error:
        make_policy("test_scripted:needs_a_word", colour="red")
    assert str(error.value).startswith(
        "Policy factory 'test_scripted:needs_a_word' cannot be called as needs_a_word(generation=..., colour=...): "
    )
    assert "Give it a `generation` keyword argument" in str(error.value)
