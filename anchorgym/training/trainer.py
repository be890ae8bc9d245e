"""The training loop: roll out, compute advantages, update, log, evaluate, checkpoint.

Each iteration ``i`` plays ``num_tasks x group_size`` episodes with the model
under training (:class:`~anchorgym.training.generation.TrainerPolicy`) through
:func:`anchorgym.harness.rollout.rollout`, folds the invalid-action penalty
into the step rewards, computes one advantage per step, optionally drops
zero-variance groups, and updates on one sample per step. Everything random in
iteration ``i`` (tasks, env seeds, sampling, shuffling) is seeded from
``(seed, i)``, so a run resumed from a checkpoint repeats exactly what the
uninterrupted run would have done.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from anchorgym.envs.anchor_diagnostics import diagnose, text_anchor
from anchorgym.errors import ConfigError, ResultError
from anchorgym.training import advantages
from anchorgym.training.batching import episode_columns, nonzero_variance_groups, penalised_rewards
from anchorgym.training.checkpoint import latest_checkpoint, load_state, save_checkpoint
from anchorgym.training.config import TrainConfig
from anchorgym.training.generation import TrainerPolicy
from anchorgym.training.losses import LossConfig
from anchorgym.training.metrics import MetricsLogger
from anchorgym.training.update import Learner, Sample, enable_activation_checkpointing

SEED_STRIDE = 1_000_003  # iteration seeds: seed * stride + iteration


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Run training as configured; return the run directory.

    Args:
        config: the run's settings.
        resume: continue from the newest checkpoint in ``config.output_dir``.

    Raises:
        ResultError: the output directory holds another run and ``resume`` is False,
            or ``resume`` is True and there is no checkpoint.
    """
    trainer = Trainer(config, resume)
    try:
        trainer.run()
    finally:
        trainer.close()
    return trainer.output_dir


def step_advantages(config: TrainConfig, cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One advantage per step row of ``cols`` (:func:`episode_columns`) as ``config`` asks.

    Returns the advantages and the rewards the estimator saw (for dynamic sampling).
    """
    rewards, penalties = penalised_rewards(
        cols["reward"], cols["valid"], config.invalid_action_penalty, config.invalid_action_penalty_mode
    )
    adv = advantages.compute(
        config.estimator,
        cols["group"],
        cols["traj"],
        cols["step"],
        rewards,
        cols["anchor"],
        gamma=config.gamma,
        penalties=penalties,
        **config.advantage_options(),
    )
    return adv, rewards


def warmup_factor(iteration: int, iterations: int, ratio: float) -> float:
    """The learning-rate multiplier at ``iteration`` (0-based) under verl's constant schedule with warm-up.

    verl sets ``num_warmup_steps = int(ratio * total_steps)`` and scales the rate by
    ``step / max(1, num_warmup_steps)`` until then, 1 after; its scheduler steps once per training
    iteration, so the first iteration trains at rate 0.

    >>> [warmup_factor(i, 10, 0.3) for i in range(5)]
    [0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 1.0]
    >>> warmup_factor(0, 10, 0.0)
    1.0
    """
    warmup = int(ratio * iterations)
    return iteration / max(1, warmup) if iteration < warmup else 1.0


def resolve_device(name: str) -> torch.device:
    """Return the torch device for ``auto``/``cpu``/``cuda``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device is 'cuda' but no CUDA GPU is available; use device: auto or cpu.")
    return torch.device(name)


def model_path(spec: str) -> str:
    """Resolve the config's ``model`` field (a directory, ``hf:PATH`` or an alias: tiny, smollm2) to a directory."""
    from anchorgym.policies.models import resolve_model

    return str(resolve_model(spec.removeprefix("hf:")))


class Trainer:
    """Holds the model, optimizer, envs and logger of one run (see :func:`train`)."""

    def __init__(self, config: TrainConfig, resume: bool = False) -> None:
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.device = resolve_device(config.device)
        if config.rollout_backend == "vllm":
            from anchorgym.training.vllm_rollout import check_vllm_available

            check_vllm_available(self.device.type)  # before the model loads: fail fast
        checkpoint = self._checkpoint(resume)
        self.model, self.tokenizer = self._load_model(checkpoint)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=config.learning_rate,
            weight_decay=config.weight_decay,
        )
        self.start = 0
        if checkpoint is not None:
            state = load_state(checkpoint)
            self.optimizer.load_state_dict(state["optimizer"])
            self.start = int(state["iteration"])
        # before the env workers start, so a missing TensorBoard or W&B package leaves nothing running
        self.logger = MetricsLogger(self.output_dir, self.start, config.tensorboard, config.wandb_project)
        self.policy = self._policy(config.temperature)
        self.rollout_policy = self._rollout_policy()
        self.learner = self._learner()
        self.envs = self._envs()
        _write_config(self.output_dir, config)

    # ------------------------------------------------------------- set-up
    def _checkpoint(self, resume: bool) -> Path | None:
        found = latest_checkpoint(self.output_dir)
        if resume and found is None:
            raise ResultError(f"--resume: no checkpoint under {self.output_dir}/checkpoints; start without --resume.")
        if not resume and (self.output_dir / "metrics.csv").exists():
            raise ResultError(
                f"{self.output_dir} already holds a run. Use --resume to continue it or pick another output_dir."
            )
        self.output_dir.mkdir(parents=True, exist_ok=True)
        return found if resume else None

    def _load_model(self, checkpoint: Path | None) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base_path = model_path(self.config.model)
        lora = self.config.lora_rank > 0
        source = str(checkpoint) if checkpoint is not None and not lora else base_path
        tokenizer = AutoTokenizer.from_pretrained(source)
        torch.manual_seed(self.config.seed)  # LoRA initialisation draws from the global generator
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(self.device)
        self.reference_model = None
        if self.config.kl_coef > 0 and not lora:  # the frozen initial policy
            # resumed: rebuilt exactly as a fresh run builds it (float32 whatever dtype the base was saved in)
            reference = (
                model if checkpoint is None else AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
            )
            self.reference_model = copy.deepcopy(reference).to(self.device).eval().requires_grad_(False)
        if lora:
            model = _with_lora(model, self.config, checkpoint)
        if self.device.type == "cuda" and self.config.gradient_checkpointing:
            enable_activation_checkpointing(model)
        return model, tokenizer

    def _policy(self, temperature: float) -> TrainerPolicy:
        c = self.config
        return TrainerPolicy(
            self.model,
            self.tokenizer,
            c.env_id,
            c.action_format,
            c.choice_size,
            c.history_length,
            temperature,
            c.max_new_tokens,
            c.seed,
            c.max_prompt_length,
            c.prompt_truncation,
        )

    def _rollout_policy(self) -> Any:
        """The HF policy itself, or a vLLM engine whose weights :meth:`iteration` syncs."""
        if self.config.rollout_backend != "vllm":
            return self.policy
        from anchorgym.training.vllm_rollout import make_vllm_policy

        c = self.config
        dtype = "bfloat16" if c.bf16 else "float32"
        return make_vllm_policy(model_path(c.model), c, c.seed, c.vllm_gpu_memory_utilization, dtype)

    def _learner(self) -> Learner:
        c = self.config
        loss = LossConfig(
            clip_eps=c.clip_eps,
            clip_ratio_c=c.clip_ratio_c,
            aggregation=c.loss_aggregation,
            kl_coef=c.kl_coef,
            entropy_coef=c.entropy_coef,
            kl_estimator=c.kl_estimator,
            norm_length=c.max_new_tokens,
            clip_ratio_low=c.clip_ratio_low,
            clip_ratio_high=c.clip_ratio_high,
        )
        return Learner(
            self.model,
            self.optimizer,
            loss,
            self.tokenizer.pad_token_id,
            c.temperature,
            self.policy.allowed,
            self._reference(),
            self.device.type == "cuda" and c.bf16,
            c.max_grad_norm,
        )

    def _reference(self) -> Any:
        if self.config.kl_coef == 0:
            return None
        if self.reference_model is not None:
            return lambda: (nullcontext(), self.reference_model)
        return lambda: (self.model.disable_adapter(), self.model)

    def _envs(self) -> Any:
        from anchorgym.envs.vector import make_vec

        c = self.config
        kwargs = dict(c.env_kwargs)
        if c.max_steps is not None:  # the env's own limit, as verl-agent's env.max_steps (the rollout caps it too)
            kwargs.setdefault("max_steps", c.max_steps)
        return make_vec(c.env_id, c.num_tasks, c.group_size, seed=c.seed, split=c.split, **kwargs)

    # ---------------------------------------------------------------- loop
    def run(self) -> None:
        """Train from the current iteration to ``config.iterations``."""
        from tqdm.auto import tqdm

        c = self.config
        # counted by hand, so the count and the metrics shown are those of the same finished iteration
        if self.start == 0 and c.eval_before_train:  # verl's val_before_train: the starting point of the curve
            self.logger.log({"iteration": 0, "eval/success": self.evaluate(0)})
        with tqdm(initial=self.start, total=c.iterations, desc="train", disable=not c.progress) as bar:
            for iteration in range(self.start, c.iterations):
                row = self.iteration(iteration)
                done = iteration + 1
                if c.eval_every and done % c.eval_every == 0:
                    row["eval/success"] = self.evaluate(done)
                self.logger.log(row)
                if done == c.iterations or (c.save_every and done % c.save_every == 0):
                    self.save(done)
                success, loss = row["rollout/success"], row.get("loss/policy", 0)
                bar.set_postfix(success=f"{success:.2f}", loss=f"{loss:.3f}", refresh=False)
                bar.update(1)

    def iteration(self, iteration: int) -> dict[str, Any]:
        """Run one rollout + update; return its metrics row."""
        from anchorgym.harness.rollout import rollout

        start = time.perf_counter()
        seed = self.config.seed * SEED_STRIDE + iteration
        sync_s = self._prepare_rollout(seed)
        torch.manual_seed(seed)
        episodes = rollout(
            self.envs,
            self.rollout_policy,
            history_length=self.config.history_length,
            max_steps=self.config.max_steps,
            task_ids=self._task_ids(),
            seed=seed,
        )
        rollout_s = time.perf_counter() - start
        # An episode whose env failed (Episode.error) has no outcome to learn from: it is left out of the
        # advantages and the update, and counted, so a failing env is visible in the metrics.
        errored = sum(1 for e in episodes if e.error)
        episodes = [e for e in episodes if not e.error]
        if not episodes:
            raise RuntimeError(f"Every episode of iteration {iteration + 1} errored; nothing to learn from.")
        samples, row = self.make_samples(episodes)
        row["rollout/errored_episodes"] = errored
        steps = [s for e in episodes for s in e.steps]
        row["rollout/tokens_per_s"] = sum(s.tokens_out or 0 for s in steps) / rollout_s
        row["rollout/prompt_tokens_per_s"] = sum(s.tokens_in or 0 for s in steps) / rollout_s
        if sync_s is not None:
            row["rollout/weight_sync_s"] = sync_s
        update_start = time.perf_counter()
        if samples:
            c = self.config
            row["update/lr"] = self._set_learning_rate(iteration)
            row.update(
                self.learner.update(
                    samples, c.mini_batch_size, c.micro_batch_size, c.ppo_epochs, seed, c.shuffle_mini_batches
                )
            )
        tokens = sum(len(s.prompt_ids) + len(s.response_ids) for s in samples) * self.config.ppo_epochs
        row["update/tokens_per_s"] = tokens / max(time.perf_counter() - update_start, 1e-9)
        row["time/iteration_s"] = time.perf_counter() - start
        return {"iteration": iteration + 1, **row}

    def _prepare_rollout(self, seed: int) -> float | None:
        """Reseed the rollout sampler; for vLLM also sync the learner's weights (return the seconds it took)."""
        self.rollout_policy.reseed(seed)
        if self.rollout_policy is self.policy:
            return None
        from anchorgym.training.vllm_rollout import sync_weights

        start = time.perf_counter()
        sync_weights(self.rollout_policy, self.model)
        return time.perf_counter() - start

    def _set_learning_rate(self, iteration: int) -> float:
        """Apply the warm-up schedule for ``iteration``; set from the iteration alone, so a resume repeats it."""
        c = self.config
        rate = c.learning_rate * warmup_factor(iteration, c.iterations, c.lr_warmup_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        return rate

    def _task_ids(self) -> list[str] | None:
        tasks = [str(t) for t in self.config.task_ids]
        return None if not tasks else tasks * (self.config.num_tasks // len(tasks))

    def make_samples(self, episodes: list[Any]) -> tuple[list[Sample], dict[str, Any]]:
        """Advantages for every step, then one :class:`Sample` per kept step; also the rollout metrics."""
        c = self.config
        cols = episode_columns(episodes)
        steps = [s for e in episodes for s in e.steps]
        texts = np.asarray([text_anchor(s.observation) for s in steps], dtype=object)
        anchor_metrics = diagnose(cols["group"], cols["anchor"], texts).metrics()
        if c.anchor == "observation":  # verl-agent's step groups: the observation text the policy saw
            cols["anchor"] = texts
        adv, rewards = step_advantages(c, cols)
        keep = np.ones(len(adv), dtype=bool)
        if c.dynamic_sampling:
            keep = nonzero_variance_groups(cols["group"], cols["traj"], rewards)
        samples = [
            Sample(list(s.prompt_token_ids), list(s.response_token_ids), list(s.logprobs), float(a))
            for s, a, k in zip(steps, adv, keep, strict=True)
            if k
        ]
        return samples, {**_rollout_metrics(episodes, cols, adv, keep), **anchor_metrics}

    def evaluate(self, iteration: int) -> float:
        """Evaluate the current model on ``config.eval_benchmark`` through the harness, at ``eval_temperature``."""
        from anchorgym.harness.runner import evaluate

        out = self.output_dir / "eval" / f"iter_{iteration:06d}"
        seeds = [int(s) for s in self.config.eval_seeds] or None
        result = evaluate(
            self.config.eval_benchmark,
            self._policy(self.config.eval_temperature),
            seeds=seeds,
            out=out,
            resume=out.exists(),
            progress=False,
        )
        value = result["metrics"]["success_rate"]
        return float(value["mean"] if isinstance(value, dict) else value)

    def save(self, iteration: int) -> Path:
        """Write a checkpoint after ``iteration`` completed iterations."""
        extra = {"config": self.config.to_dict()}
        return save_checkpoint(self.output_dir, iteration, self.model, self.tokenizer, self.optimizer, extra)

    def close(self) -> None:
        """Shut down the env workers (and the vLLM engine) and close the metric writers."""
        self.logger.close()
        self.envs.close()
        if self.rollout_policy is not self.policy:
            self.rollout_policy.close()


def _rollout_metrics(
    episodes: list[Any], cols: dict[str, np.ndarray], adv: np.ndarray, keep: np.ndarray
) -> dict[str, Any]:
    sizes = advantages.step_group_sizes(cols["group"], cols["anchor"])
    per_step = np.repeat(sizes, sizes)
    return {
        "rollout/success": float(np.mean([e.won for e in episodes])),
        "rollout/return": float(np.mean([e.episode_return for e in episodes])),
        "rollout/length": float(np.mean([e.length for e in episodes])),
        "rollout/invalid": float(1 - cols["valid"].mean()),
        "samples/kept": int(keep.sum()),
        "samples/dropped_groups": int(len(np.unique(cols["group"])) - len(np.unique(cols["group"][keep]))),
        "advantage/mean": float(adv[keep].mean()) if keep.any() else 0.0,
        "advantage/abs_mean": float(np.abs(adv[keep]).mean()) if keep.any() else 0.0,
        "step_group/size_mean": float(per_step.mean()),
        "step_group/size_max": int(sizes.max()),
        "step_group/singleton": float((per_step == 1).mean()),
    }


def _with_lora(model: Any, config: TrainConfig, checkpoint: Path | None) -> Any:
    try:
        from peft import LoraConfig, PeftModel, get_peft_model
    except ImportError as error:
        from anchorgym.errors import missing_extra

        raise missing_extra("peft", "train") from error
    if checkpoint is not None:
        return PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
    lora = LoraConfig(
        r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    return get_peft_model(model, lora)


def _write_config(output_dir: Path, config: TrainConfig) -> None:
    import yaml

    fd, tmp = tempfile.mkstemp(dir=output_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config.to_dict(), handle, sort_keys=False)
    os.replace(tmp, output_dir / "config.yaml")
