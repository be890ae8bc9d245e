import random
import re
from collections import Counter

import pytest

import anchorgym
from anchorgym.envs.toolqa.synthetic import SyntheticConfig, chains, generate, question_text
from anchorgym.envs.toolqa.world import RELATIONS, VALUE, WorldConfig, generate_world
from anchorgym.errors import ConfigError


def play_expert(env, task_id):
    env.reset(options={"task_id": task_id})
    while True:
        _, reward, terminated, truncated, info = env.step(env.expert_action())
        if terminated or truncated:
            return reward, info


def test_generation_is_deterministic_by_seed_and_split():
    config = SyntheticConfig(questions=50)
    first, again = generate(config, "train"), generate(config, "train")
    assert first.passages == again.passages and first.tasks == again.tasks
    other_seed = generate(SyntheticConfig(questions=50, seed=1), "train")
    test_split = generate(config, "test")
    assert other_seed.passages != first.passages
    assert not {p.title for p in test_split.passages} & {p.title for p in first.passages}  # splits use new worlds


def test_fixed_seed_gives_fixed_content():
    """Regression guard: seed 0 must give these tasks in every process and Python version."""
    data = generate(SyntheticConfig(questions=3), "test")
    assert [(t.question, t.answers, t.supporting, t.task_type) for t in data.tasks] == [
        ("What is the occupation of Saevias Rezir?", ("botanist",), ("syn80",), "1-hop"),
        ("What is the country of the birthplace of Geir Fadix?", ("Fasland",), ("syn107", "syn32"), "2-hop"),
        (
            "What is the employer of the founder of the employer of Greil Meihubrath?",
            ("Gathosoux Mills",),
            ("syn101", "syn72", "syn173"),
            "3-hop",
        ),
    ]
    assert data.passages[0].contents == (
        '"Sipouistan"\nThe capital of Sipouistan is Hiathaes. The head of state of Sipouistan is Hubrom Naega. '
        "Sipouistan is often mentioned alongside Laekiath Rorovouth."
    )


def test_questions_are_distinct_balanced_and_consistent_with_the_world():
    config = SyntheticConfig(min_hops=1, max_hops=4, questions=400)
    data = generate(config, "train")
    assert len({t.question for t in data.tasks}) == 400
    assert Counter(t.task_type for t in data.tasks) == {f"{h}-hop": 100 for h in range(1, 5)}
    world = generate_world(config.world, random.Random("anchorgym-toolqa:0:train"))
    for task in data.tasks:
        current = task.meta["start"]
        for name in task.meta["chain"]:
            current = world.by_name[current].facts[name]
        assert task.answers == (current,)
        assert len(task.supporting) == len(task.meta["chain"])


def test_chains_respect_types():
    for hops in range(1, 5):
        for chain in chains("person", hops):
            assert chain[0].subject == "person"
            assert all(a.object == b.subject for a, b in zip(chain[:-1], chain[1:], strict=True))
            assert all(r.object != VALUE for r in chain[:-1])
    assert question_text("Ana Vel", (RELATIONS["birthplace"], RELATIONS["country"])) == (
        "What is the country of the birthplace of Ana Vel?"
    )
    assert question_text("Ana Vel", (RELATIONS["birth_year"],)) == "In what year was Ana Vel born?"


def test_config_errors():
    with pytest.raises(ConfigError, match=r"Need 1 <= min_hops <= max_hops <= 4, got 2..5"):
        SyntheticConfig(min_hops=2, max_hops=5)
    with pytest.raises(ConfigError, match=r"Unknown synthetic option 'max_hop'. Did you mean 'max_hops'\?"):
        SyntheticConfig.from_dict({"max_hop": 2})
    with pytest.raises(ConfigError, match=r"Need at least one city per country"):
        WorldConfig(cities=3, countries=4)
    with pytest.raises(ConfigError, match=r"4-hop questions need 5 turns .* Pass max_steps=5"):
        anchorgym.make("anchorgym/ToolQA-v0", synthetic={"max_hops": 4, "questions": 8})


def test_expert_answers_every_default_test_question():
    env = anchorgym.make("anchorgym/ToolQA-v0", split="test")
    results = [play_expert(env, task_id) for task_id in env.task_ids()]
    assert len(results) == 200
    assert all(reward == 1.0 and info["won"] and info["score"] == 1.0 for reward, info in results)


@pytest.mark.slow
@pytest.mark.parametrize(("distractor_level", "topk"), [(0, 1), (3, 3)])
def test_expert_answers_every_four_hop_question(distractor_level, topk):
    options = {"min_hops": 4, "max_hops": 4, "questions": 100, "distractor_level": distractor_level}
    env = anchorgym.make("anchorgym/ToolQA-v0", split="test", max_steps=5, topk=topk, synthetic=options)
    wins = [play_expert(env, task_id)[1]["won"] for task_id in env.task_ids()]
    assert wins == [True] * 100


@pytest.mark.parametrize("distractor_level", [0, 2, 5])
def test_distractor_level_sets_namesakes_and_stray_mentions(distractor_level):
    config = WorldConfig(distractor_level=distractor_level)
    world = generate_world(config, random.Random("anchorgym-toolqa:0:test"))
    surnames = Counter(e.name.split()[-1] for e in world.of_kind("person"))
    assert set(surnames.values()) == {1 + distractor_level}  # 120 people: every surname shared evenly
    assert all(len(e.mentions) == distractor_level for e in world.entities)
    mention = re.compile(r"is often mentioned alongside|once exchanged letters with|Some sources link")
    for entity, passage in zip(world.entities, world.passages(random.Random(0)), strict=True):
        assert len(mention.findall(passage.text)) == distractor_level
        assert passage.title == f'"{entity.name}"'


@pytest.mark.slow
@pytest.mark.parametrize(("distractor_level", "seed"), [(1, 0), (5, 1)])
def test_expert_answers_every_question_with_a_single_passage_per_search(distractor_level, seed):
    # top-1: each search must rank the entity's own passage first, even a city that an organisation is named after
    options = {"max_hops": 4, "questions": 200, "distractor_level": distractor_level, "seed": seed}
    env = anchorgym.make("anchorgym/ToolQA-v0", split="train", max_steps=5, topk=1, synthetic=options)
    wins = [play_expert(env, task_id)[1]["won"] for task_id in env.task_ids()]
    assert wins == [True] * 200
