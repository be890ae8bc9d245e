"""Contamination-free multi-hop questions over a generated world (:mod:`.world`).

A question starts at one entity and follows a chain of 1-4 relations, e.g.
(2 hops) "What is the country of the birthplace of Thin Gaebrir?". Answering
needs one search per hop: each passage names the entity the next hop reads.
Everything is deterministic in ``(seed, split)``; the splits use different
worlds, so nothing learnt about train entities carries over to test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

from anchorgym.envs.toolqa.tasks import Task, ToolQAData
from anchorgym.envs.toolqa.world import PERSON, RELATIONS, VALUE, Relation, World, WorldConfig, generate_world
from anchorgym.errors import ConfigError, suggest, unknown

SPLIT_SIZES = {"train": 1000, "test": 200}
MAX_HOPS = 4


@dataclass(frozen=True)
class SyntheticConfig:
    """Options of the ``synthetic`` data set (pass as ``synthetic={...}`` to the env).

    Attributes:
        seed: world and question seed.
        min_hops: fewest relations per question.
        max_hops: most relations per question (4 hops need ``max_steps >= 5``).
        questions: questions per split (None: 1000 train, 200 test).
        world: sizes and ``distractor_level`` of the generated world.
    """

    seed: int = 0
    min_hops: int = 1
    max_hops: int = 3
    questions: int | None = None
    world: WorldConfig = WorldConfig()

    def __post_init__(self) -> None:
        if not 1 <= self.min_hops <= self.max_hops <= MAX_HOPS:
            raise ConfigError(f"Need 1 <= min_hops <= max_hops <= {MAX_HOPS}, got {self.min_hops}..{self.max_hops}.")
        if self.questions is not None and self.questions < 1:
            raise ConfigError(f"questions must be at least 1, got {self.questions}.")

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> SyntheticConfig:
        """Build from flat options; world fields (``people``, ``distractor_level``...) are accepted too."""
        options = dict(options or {})
        own = {f.name for f in fields(cls)} - {"world"}
        world_keys = {f.name for f in fields(WorldConfig)}
        for key in options:
            if key not in own | world_keys:
                raise ConfigError(f"Unknown synthetic option {key!r}.{suggest(key, own | world_keys)}")
        world = WorldConfig(**{k: v for k, v in options.items() if k in world_keys})
        return cls(world=world, **{k: v for k, v in options.items() if k in own})


def chains(kind: str, hops: int) -> list[tuple[Relation, ...]]:
    """Every relation chain of length ``hops`` starting from an entity of ``kind`` (values only last)."""
    if hops == 0:
        return [()]
    result = []
    for relation in RELATIONS.values():
        if relation.subject != kind or (relation.object == VALUE and hops > 1):
            continue
        result += [(relation, *rest) for rest in chains(relation.object, hops - 1)] if hops > 1 else [(relation,)]
    return result


def question_text(start: str, chain: tuple[Relation, ...]) -> str:
    """Nest the relations' noun phrases around the start entity.

    >>> question_text("Thin Gaebrir", (RELATIONS["employer"], RELATIONS["founder"]))
    'Who is the founder of the employer of Thin Gaebrir?'
    """
    phrase = start
    for relation in chain[:-1]:
        phrase = relation.phrase.format(x=phrase)
    last = chain[-1]
    if last.object == VALUE:
        return last.question.format(x=phrase)
    return f"{'Who' if last.object == PERSON else 'What'} is {last.phrase.format(x=phrase)}?"


def walk(world: World, start: str, chain: tuple[Relation, ...]) -> list[str] | None:
    """Follow ``chain`` from ``start``; None when the path revisits an entity (a degenerate question)."""
    path = [start]
    for relation in chain:
        path.append(world.by_name[path[-1]].facts[relation.name])
    entities = [name for name in path if name in world.by_name]
    return path if len(set(entities)) == len(entities) else None


def generate(config: SyntheticConfig, split: str) -> ToolQAData:
    """Generate the world, corpus and questions of one split."""
    if split not in SPLIT_SIZES:
        raise unknown("synthetic split", split, SPLIT_SIZES)
    rng = random.Random(f"anchorgym-toolqa:{config.seed}:{split}")
    world = generate_world(config.world, rng)
    passages = world.passages(rng)
    count = config.questions or SPLIT_SIZES[split]
    return ToolQAData("synthetic", split, _questions(world, config, split, count, rng), passages)


def _questions(world: World, config: SyntheticConfig, split: str, count: int, rng: random.Random) -> list[Task]:
    tasks: list[Task] = []
    seen: set[str] = set()
    spread = config.max_hops - config.min_hops + 1
    for _attempt in range(count * 50):
        if len(tasks) == count:
            break
        hops = config.min_hops + len(tasks) % spread  # balanced hop counts
        start = rng.choice(world.entities)
        options = chains(start.kind, hops)
        chain = rng.choice(options) if options else None
        path = walk(world, start.name, chain) if chain else None
        text = question_text(start.name, chain) if path else ""
        if path and text not in seen:
            seen.add(text)
            tasks.append(_task(world, split, len(tasks), text, chain, path))
    if len(tasks) < count:
        raise ConfigError(f"Could only make {len(tasks)} of {count} distinct questions; enlarge the world.")
    return tasks


def _task(world: World, split: str, index: int, text: str, chain: tuple[Relation, ...], path: list[str]) -> Task:
    return Task(
        id=f"syn-{split}-{index:05d}",
        question=text,
        answers=(path[-1],),
        task_type=f"{len(chain)}-hop",
        supporting=tuple(world.passage_ids[name] for name in path[:-1]),
        meta={"start": path[0], "chain": [relation.name for relation in chain]},
    )
