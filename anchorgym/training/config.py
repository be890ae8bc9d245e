"""The one training configuration: a dataclass loaded from YAML, checked as a whole.

Every field carries a one-line description (``TrainConfig.describe()`` lists
them). Defaults follow GiGPO (Feng et al. 2025, arXiv 2505.10978, Sec. 5.1 and
App. C): group size 8, gamma 0.95, omega 1, invalid-action penalty 0.1,
clip 0.2, KL coefficient 0.01, history of 2 steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anchorgym.errors import ConfigError, suggest
from anchorgym.training.advantages import ESTIMATORS

ACTION_FORMATS = ("text", "choice")
PENALTY_MODES = ("reward", "row")  # ours: folded into r_t; verl-agent: off the invalid row, after returns
KL_ESTIMATORS = ("k1", "k2", "k3")
ROLLOUT_BACKENDS = ("hf", "vllm")
PROMPT_TRUNCATIONS = ("error", "left")
ANCHORS = ("state", "observation")


def _doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass
class TrainConfig:
    """Settings of one training run (see :meth:`describe` for every field)."""

    env_id: str = _doc("registered env id to train on", "anchorgym/Sokoban-v0")
    model: str = _doc("model directory, `hf:PATH`, or an alias: `tiny` (built-in tiny Qwen2), `smollm2`", "tiny")
    output_dir: str = _doc("run directory: metrics.csv, checkpoints/, config.yaml", "runs/train")
    estimator: str = _doc("advantage estimator: grpo, rloo, mc_grpo, gigpo, hgpo", "gigpo")
    estimator_options: dict = _doc("options for the estimator (mode, stats, omega, history, alpha...)", factory=dict)
    gamma: float | None = _doc("discount for step returns; null = the estimator's published default", None)
    iterations: int = _doc("training iterations (rollout + update)", 100)
    num_tasks: int = _doc("episode groups per iteration (distinct tasks)", 16)
    group_size: int = _doc("trajectories per group, all on the same task and seed (GiGPO: 8)", 8)
    split: str = _doc("env split to train on", "train")
    task_ids: list = _doc("fixed task ids to train on (empty: sample from the split each iteration)", factory=list)
    env_kwargs: dict = _doc("keyword arguments for every env", factory=dict)
    max_steps: int | None = _doc("steps per episode: the env's limit (verl-agent's env.max_steps); null: its own", None)
    history_length: int = _doc("past (observation, action) pairs in each prompt (GiGPO: 2)", 2)
    max_prompt_length: int | None = _doc("cap on prompt tokens per step (verl's data.max_prompt_length)", None)
    prompt_truncation: str = _doc(
        "a prompt longer than max_prompt_length: `error` stops the run, `left` keeps its last tokens (verl's "
        "data.truncation)",
        "error",
    )
    anchor: str = _doc(
        "step-group anchor for gigpo/hgpo: `state` (the env's anchor, its true state by default) or "
        "`observation` (the observation text the policy saw, as verl-agent's env managers)",
        "state",
    )
    action_format: str = _doc("`text`: free generation parsed by the prompt's tags; `choice`: one token", "text")
    choice_size: int = _doc("choice format: the model picks an admissible action by index 0..choice_size-1", 4)
    rollout_backend: str = _doc("`hf`: sample with the trained model; `vllm`: a vLLM engine synced per iteration", "hf")
    vllm_gpu_memory_utilization: float = _doc("vllm backend: fraction of GPU memory the engine may take", 0.3)
    temperature: float = _doc("sampling temperature for rollouts", 1.0)
    max_new_tokens: int = _doc("cap on generated tokens per step (text format)", 256)
    invalid_action_penalty: float = _doc("subtracted when the action is invalid (see invalid_action_penalty_mode)", 0.1)
    invalid_action_penalty_mode: str = _doc(
        "`reward`: folded into r_t (discounted into earlier steps); `row`: verl-agent's, off the invalid "
        "row's own episode score and step return after returns (needs stats: step)",
        "reward",
    )
    dynamic_sampling: bool = _doc("drop groups whose trajectories all earn the same return (DAPO)", False)
    learning_rate: float = _doc("AdamW learning rate", 1e-6)
    weight_decay: float = _doc("AdamW weight decay", 0.01)
    lr_warmup_ratio: float = _doc(
        "linear warm-up over this share of the iterations, then constant (verl's lr_warmup_steps_ratio: "
        "the learning rate is 0 at the first iteration)",
        0.0,
    )
    shuffle_mini_batches: bool = _doc(
        "shuffle the samples before each pass's mini-batches (verl-agent: no, they go in rollout order)", True
    )
    max_grad_norm: float = _doc("gradient clipping norm", 1.0)
    ppo_epochs: int = _doc("passes over each iteration's samples", 1)
    mini_batch_size: int = _doc("samples per optimizer step", 64)
    micro_batch_size: int = _doc("samples per forward/backward (gradient accumulation inside a mini-batch)", 8)
    clip_eps: float = _doc("PPO clip epsilon", 0.2)
    clip_ratio_c: float = _doc("dual-clip bound c", 3.0)
    clip_ratio_low: float | None = _doc("lower clip range (ratio floor 1 - it); null: clip_eps", None)
    clip_ratio_high: float | None = _doc("upper clip range (ratio cap 1 + it; DAPO: 0.28); null: clip_eps", None)
    loss_aggregation: str = _doc(
        "`token-mean`, `token-sum`, `seq-mean` (= seq-mean-token-mean), `seq-mean-token-sum`, "
        "`seq-mean-token-sum-norm` (verl-agent's), `seq-mean-token-sum-norm-verl` (verl 0.9's)",
        "token-mean",
    )
    kl_coef: float = _doc("KL weight to the frozen initial model; 0 disables it", 0.01)
    kl_estimator: str = _doc("`k3` (verl's low_var_kl, clamped to +-10), `k2` (mse) or `k1` (kl)", "k3")
    entropy_coef: float = _doc("entropy bonus weight; 0 disables it", 0.0)
    lora_rank: int = _doc("LoRA rank (peft); 0 trains all weights", 0)
    lora_alpha: int = _doc("LoRA alpha", 32)
    device: str = _doc("`auto` (cuda when present), `cpu` or `cuda`", "auto")
    bf16: bool = _doc("bf16 autocast on GPU (ignored on CPU)", True)
    gradient_checkpointing: bool = _doc("trade compute for memory on GPU (ignored on CPU)", True)
    seed: int = _doc("seeds tasks, sampling and initialisation", 0)
    eval_every: int = _doc("evaluate every N iterations (0: never)", 0)
    eval_benchmark: str = _doc("harness benchmark spec evaluated during training (`anchorgym benchmarks`)", "")
    eval_temperature: float = _doc("evaluation sampling temperature; 0: greedy (verl-agent's scripts: 0.4)", 0.0)
    eval_before_train: bool = _doc("also evaluate once before the first iteration (verl's val_before_train)", False)
    eval_seeds: list = _doc("evaluation seeds (empty: the spec's own)", factory=list)
    save_every: int = _doc("checkpoint every N iterations (0: only at the end)", 10)
    tensorboard: bool = _doc("also log to <output_dir>/tensorboard (pip install 'anchorgym[tensorboard]')", False)
    wandb_project: str = _doc("also log to this W&B project (anchorgym[wandb]; WANDB_MODE=offline: on disk)", "")
    progress: bool = _doc("show a progress bar", True)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, _checked_value(f.name, f.type, getattr(self, f.name)))
        if self.estimator not in ESTIMATORS:
            raise ConfigError(
                f"estimator {self.estimator!r} is unknown.{suggest(self.estimator, ESTIMATORS)} "
                f"Choose one of {sorted(ESTIMATORS)}."
            )
        if self.rollout_backend not in ROLLOUT_BACKENDS:
            raise ConfigError(
                f"rollout_backend must be one of {ROLLOUT_BACKENDS}, got {self.rollout_backend!r}."
                f"{suggest(self.rollout_backend, ROLLOUT_BACKENDS)}"
            )
        if self.rollout_backend == "vllm":
            self._check_vllm()
        if self.action_format not in ACTION_FORMATS:
            raise ConfigError(f"action_format must be one of {ACTION_FORMATS}, got {self.action_format!r}.")
        for name in ("iterations", "num_tasks", "group_size", "mini_batch_size", "micro_batch_size", "ppo_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.mini_batch_size % self.micro_batch_size:
            fits = _divisor(self.mini_batch_size, self.micro_batch_size)
            raise ConfigError(
                f"mini_batch_size ({self.mini_batch_size}) must be a multiple of micro_batch_size "
                f"({self.micro_batch_size}); e.g. set micro_batch_size to {fits}."
            )
        if self.group_size < 2:
            raise ConfigError("group_size must be >= 2: group-relative advantages are 0 for a group of one.")
        if self.task_ids and self.num_tasks % len(self.task_ids):
            raise ConfigError(
                f"num_tasks ({self.num_tasks}) must be a multiple of the {len(self.task_ids)} task_ids: "
                "each iteration plays every listed task equally often."
            )
        if self.action_format == "choice" and not 1 < self.choice_size <= 10:
            raise ConfigError(f"choice_size must be in 2..10 (one digit token per choice), got {self.choice_size}.")
        if self.eval_every and not self.eval_benchmark:
            raise ConfigError("eval_every > 0 needs eval_benchmark, e.g. 'sokoban-6x6-1box/smoke@v1'.")
        if self.temperature <= 0:
            raise ConfigError("temperature must be > 0 for training rollouts (log-probs of greedy picks are 0).")
        self._check_schedule_settings()
        self._check_advantage_settings()

    def _check_schedule_settings(self) -> None:
        if self.eval_temperature < 0:
            raise ConfigError(f"eval_temperature must be >= 0 (0: greedy), got {self.eval_temperature}.")
        if self.eval_before_train and not self.eval_benchmark:
            raise ConfigError("eval_before_train needs eval_benchmark, e.g. 'sokoban-6x6-1box/smoke@v2'.")
        if not 0 <= self.lr_warmup_ratio < 1:
            raise ConfigError(f"lr_warmup_ratio must be in [0, 1), got {self.lr_warmup_ratio}.")
        if self.max_prompt_length is not None and self.max_prompt_length < 1:
            raise ConfigError(f"max_prompt_length must be >= 1 or null, got {self.max_prompt_length}.")
        for name, value, allowed in (
            ("prompt_truncation", self.prompt_truncation, PROMPT_TRUNCATIONS),
            ("anchor", self.anchor, ANCHORS),
        ):
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {value!r}.{suggest(value, allowed)}")
        if self.save_every < 0 or self.eval_every < 0:
            raise ConfigError("save_every and eval_every must be >= 0 (0: only at the end / never).")

    def _check_advantage_settings(self) -> None:
        if self.invalid_action_penalty_mode not in PENALTY_MODES:
            raise ConfigError(
                f"invalid_action_penalty_mode must be one of {PENALTY_MODES}, got {self.invalid_action_penalty_mode!r}."
                f"{suggest(self.invalid_action_penalty_mode, PENALTY_MODES)}"
            )
        options = self.estimator_options
        if self.estimator == "hgpo" and options.get("history", self.history_length) != self.history_length:
            raise ConfigError(
                f"hgpo's history is the prompt's history_length ({self.history_length}), as in the authors' recipe; "
                f"drop estimator_options.history ({options['history']}) and set history_length instead."
            )
        episode_term = self.estimator != "hgpo" or options.get("episode", "none") != "none"
        if self.invalid_action_penalty_mode == "row" and episode_term and options.get("stats") != "step":
            raise ConfigError(
                "invalid_action_penalty_mode: row (verl-agent's) gives each step row its own episode score: "
                "set estimator_options stats: step, as verl-agent does."
            )

    def advantage_options(self) -> dict[str, Any]:
        """The estimator's options: ``estimator_options``, plus for hgpo ``history = history_length``."""
        options = dict(self.estimator_options)
        if self.estimator == "hgpo":
            options["history"] = self.history_length
        return options

    def _check_vllm(self) -> None:
        if self.action_format != "text":
            raise ConfigError("rollout_backend 'vllm' samples free text: set action_format: text (or use hf).")
        if self.lora_rank > 0:
            raise ConfigError(
                "rollout_backend 'vllm' syncs full weights each iteration: set lora_rank: 0 (or use hf with LoRA)."
            )
        if not 0 < self.vllm_gpu_memory_utilization < 1:
            raise ConfigError(
                f"vllm_gpu_memory_utilization must be in (0, 1), got {self.vllm_gpu_memory_utilization}; "
                "the learner needs the rest of the GPU."
            )

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict, rejecting unknown keys with a suggestion."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in raw:
            if key not in names:
                raise ConfigError(f"Unknown config key {key!r}.{suggest(key, names)} See `anchorgym train --fields`.")
        return cls(**raw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Load a config from a YAML file."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file {str(path)!r} does not exist.")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} must hold a mapping of config keys, got {type(raw).__name__}.")
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a plain dict (YAML-able)."""
        return dataclasses.asdict(self)

    @classmethod
    def describe(cls) -> str:
        """Return one line per field: name, default and meaning."""
        lines = []
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            lines.append(f"{f.name:24} {default!r:28} {f.metadata['doc']}")
        return "\n".join(lines)


_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}
_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a mapping",
    list: "a list",
}


def _checked_value(name: str, annotation: str, value: Any) -> Any:
    """Return ``value`` as the field's declared type, or raise a ConfigError that names the field.

    An int is accepted where a float is due, and so is a numeric string: YAML 1.1 (PyYAML) reads
    ``1e-5`` (no dot) as the string "1e-5".

    >>> _checked_value("learning_rate", "float", "1e-5")
    1e-05
    >>> _checked_value("iterations", "int", "ten")
    Traceback (most recent call last):
    ...
    anchorgym.errors.ConfigError: iterations must be an integer, got 'ten' (str).
    """
    optional = annotation.endswith(" | None")
    kind = _TYPES[annotation.removesuffix(" | None")]
    if value is None and optional:
        return None
    if kind is float and not isinstance(value, bool):
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    words = _WORDS[kind] + (" or null" if optional else "")
    raise ConfigError(f"{name} must be {words}, got {value!r} ({type(value).__name__}).")


def _divisor(total: int, wanted: int) -> int:
    return max(d for d in range(1, wanted + 1) if total % d == 0)
