"""Versioned benchmark specs: what exactly a benchmark evaluates, stored as data.

A benchmark id looks like ``sokoban-6x6-1box/test@v1``. Its spec fixes the env
(id and constructor kwargs), the split, the exact task list, episodes per task,
the step limit, the history length, the prompt template (name and version), the
metrics and the default evaluation seeds. Specs live in JSON files in
``anchorgym/harness/specs/`` (format: ``specs/README.md``, schema:
``schemas/benchmarks.schema.json``). Any change to a spec changes its
:meth:`BenchmarkSpec.content_hash`, which every result records and which
``anchorgym compare`` checks, so results of different specs are never compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anchorgym.errors import ConfigError, unknown

if TYPE_CHECKING:
    from anchorgym.policies.base import GenerationConfig

SPEC_FORMAT = "anchorgym-benchmarks/1"


def canonical_json(value: Any) -> str:
    """Serialise ``value`` canonically: sorted keys, no spaces, Unicode kept.

    >>> canonical_json({"b": [1, 2], "a": "é"})
    '{"a":"é","b":[1,2]}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    """Return ``sha256:<hex>`` of the canonical JSON of ``value`` (key order and whitespace do not matter).

    >>> content_hash({"a": 1}) == content_hash(json.loads('{ "a" : 1 }'))
    True
    """
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BenchmarkSpec:
    """One versioned benchmark.

    Attributes:
        id: ``name/split@vN``.
        env_id: registered env id.
        env_kwargs: constructor kwargs for every env (e.g. Sokoban's room size).
        split: the env split the tasks come from.
        tasks: the task ids, or ``{"range": [start, stop]}`` of the split's fixed order.
        episodes_per_task: episodes per task per seed.
        max_steps: step limit per episode (passed to the env).
        history_length: past ``(observation, action)`` pairs shown to the policy.
        prompt_template: ``{"name", "version"}`` of the env's prompt template.
        metrics: which info keys give success (``won``) and score (``score``).
        seeds: default evaluation seeds; each seed is one full pass over the tasks.
        generation: default sampling settings (``temperature``, ``top_p``, ``max_new_tokens``) of model
            policies, e.g. a protocol's validation settings; empty: the policy's own defaults.
        description: one line for ``anchorgym benchmarks``.
        source: the file the spec came from (not part of the hash).
        raw: the spec exactly as stored (the hash input).
    """

    id: str
    env_id: str
    env_kwargs: dict[str, Any]
    split: str
    tasks: Any
    episodes_per_task: int
    max_steps: int
    history_length: int
    prompt_template: dict[str, str]
    metrics: dict[str, str]
    seeds: tuple[int, ...]
    generation: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, raw: dict[str, Any], source: str = "") -> BenchmarkSpec:
        """Build a spec from one (schema-validated) entry of a spec file."""
        return cls(
            id=raw["id"],
            env_id=raw["env"]["id"],
            env_kwargs=dict(raw["env"].get("kwargs", {})),
            split=raw["split"],
            tasks=raw["tasks"],
            episodes_per_task=int(raw["episodes_per_task"]),
            max_steps=int(raw["max_steps"]),
            history_length=int(raw["history_length"]),
            prompt_template=dict(raw["prompt_template"]),
            metrics=dict(raw["metrics"]),
            seeds=tuple(int(s) for s in raw["seeds"]),
            generation=dict(raw.get("generation", {})),
            description=raw.get("description", ""),
            source=source,
            raw=raw,
        )

    def content_hash(self) -> str:
        """Return the spec's content hash (``sha256:...``) over its stored JSON and the format version."""
        return content_hash({"format": SPEC_FORMAT, "benchmark": self.raw})

    def default_generation(self) -> GenerationConfig | None:
        """The sampling settings ``anchorgym eval`` uses when none are given (None: the policy's defaults)."""
        from anchorgym.policies.base import GenerationConfig

        return GenerationConfig(**self.generation) if self.generation else None

    @property
    def extra_metrics(self) -> tuple[str, ...]:
        """Info keys reported beside success and score (``metrics.extra``, e.g. tool-QA's ``subem``)."""
        return tuple(self.metrics.get("extra", ()))

    @property
    def num_tasks(self) -> int | None:
        """Number of tasks when the list is explicit, else None until resolved."""
        return len(self.tasks) if isinstance(self.tasks, list) else None

    def resolve_tasks(self, split_task_ids: Sequence[str]) -> list[str]:
        """Return the exact task ids, checking each exists in the env's split.

        Args:
            split_task_ids: ``env.task_ids()`` of the spec's split.

        Raises:
            ConfigError: a task is not in the split, or the range runs past its end.
        """
        if isinstance(self.tasks, dict):
            start, stop = self.tasks["range"]
            if not 0 <= start < stop <= len(split_task_ids):
                raise ConfigError(
                    f"Benchmark {self.id} asks for tasks {start}..{stop} of split {self.split!r}, "
                    f"which has {len(split_task_ids)} tasks. Fix the spec's tasks range."
                )
            return [str(t) for t in split_task_ids[start:stop]]
        # a set for ordinary splits; huge lazy splits are trusted to implement a fast __contains__
        known = set(map(str, split_task_ids)) if len(split_task_ids) <= 200_000 else split_task_ids
        missing = [t for t in self.tasks if t not in known]
        if missing:
            raise ConfigError(
                f"Benchmark {self.id}: {len(missing)} task(s) are not in split {self.split!r} of {self.env_id}, "
                f"e.g. {missing[0]!r}. The env or its data changed; bump the benchmark version and fix its tasks."
            )
        return list(self.tasks)

    def env_spec(self) -> dict[str, Any]:
        """Return the env's registry entry (``EnvInfo.to_json``) with the spec's kwargs and step limit applied."""
        from anchorgym.envs.registry import env_info

        info = env_info(self.env_id).to_json()
        info["kwargs"] = {**info.get("kwargs", {}), **self.env_kwargs}
        info["max_steps"] = self.max_steps
        return info


def _schema() -> dict[str, Any]:
    text = resources.files("anchorgym.harness").joinpath("schemas/benchmarks.schema.json").read_text("utf-8")
    return json.loads(text)


def parse_spec_file(text: str, source: str) -> list[BenchmarkSpec]:
    """Parse and validate the text of one spec file.

    Raises:
        ConfigError: invalid JSON, or the file does not follow the spec schema.
    """
    import jsonschema

    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"Benchmark spec file {source} is not valid JSON: {error}.") from error
    problem = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_schema()).iter_errors(data))
    if problem is not None:
        where = "/".join(str(p) for p in problem.absolute_path) or "(top level)"
        raise ConfigError(
            f"Benchmark spec file {source} is invalid at {where}: {problem.message}. "
            "See anchorgym/harness/specs/README.md for the format."
        )
    return [BenchmarkSpec.from_json(raw, source) for raw in data["benchmarks"]]


@lru_cache(maxsize=1)
def _builtin() -> dict[str, BenchmarkSpec]:
    specs: dict[str, BenchmarkSpec] = {}
    folder = resources.files("anchorgym.harness").joinpath("specs")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        for spec in parse_spec_file(entry.read_text("utf-8"), f"anchorgym/harness/specs/{entry.name}"):
            if spec.id in specs:
                first = specs[spec.id].source
                raise ConfigError(f"Benchmark {spec.id} is defined twice: in {first} and {spec.source}.")
            specs[spec.id] = spec
    return specs


def list_benchmarks() -> list[BenchmarkSpec]:
    """Return every built-in benchmark, sorted by id."""
    specs = _builtin()
    return [specs[key] for key in sorted(specs)]


def load_benchmark(name: str) -> BenchmarkSpec:
    """Return the benchmark ``name``: a built-in id, or ``FILE.json`` / ``FILE.json#ID`` for your own.

    Raises:
        UnknownNameError: no such benchmark (the message suggests the closest id).
        ConfigError: the spec file is invalid or holds several benchmarks and no ``#ID`` was given.
    """
    path_part, _, wanted = name.partition("#")
    if path_part.endswith(".json"):
        return _from_file(Path(path_part), wanted)
    specs = _builtin()
    if name not in specs:
        raise unknown("benchmark", name, specs, "List them with: anchorgym benchmarks")
    return specs[name]


def _from_file(path: Path, wanted: str) -> BenchmarkSpec:
    if not path.is_file():
        raise ConfigError(f"Benchmark spec file {path} does not exist.")
    specs = {spec.id: spec for spec in parse_spec_file(path.read_text("utf-8"), str(path))}
    if wanted:
        if wanted not in specs:
            raise unknown(f"benchmark in {path}", wanted, specs)
        return specs[wanted]
    if len(specs) != 1:
        raise ConfigError(f"{path} defines {len(specs)} benchmarks; pick one with {path}#ID.")
    return next(iter(specs.values()))
