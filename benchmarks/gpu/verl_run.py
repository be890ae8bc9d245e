"""A short verl run: anchorgym's agent loop in verl's AgentLoopWorker, the advantage hook, one update with verl's loss.

1. A causal LM on ``--device`` (the built-in tiny Qwen2, or ``--model PATH``) serves as verl's LLM
   server: it samples each turn at temperature 1 and returns the sampled tokens' float32 log-probs.
2. verl's ``AgentLoopWorker`` plays ``--groups`` x ``--group-size`` Sokoban episodes with the
   ``anchorgym_agent`` loop (rows from ``anchorgym.integrations.verl.rows``).
3. verl's ``compute_advantage``, with anchorgym's hook installed, gives GiGPO's advantages.
4. The learner re-scores the batch from verl's own ``input_ids`` / ``attention_mask`` /
   ``position_ids`` (bf16 autocast on CUDA): the gap to the rollout log-probs on model tokens says
   that spans, masks and positions line up (a misaligned token would be off by several nats).
5. One optimizer step with verl 0.9's ``compute_policy_loss_vanilla`` (asymmetric clip 0.2/0.28,
   token-mean) on those advantages, ``pi_old`` being the learner's re-scoring.

Prints ``VERL ...`` lines and writes ``benchmarks/results/verl_run.json``. Without verl, or without
CUDA when ``--device cuda`` (the default), it prints ``SKIP`` and the reason and exits 0.
Usage::

    python benchmarks/gpu/verl_run.py [--device cuda|cpu] [--groups 2] [--group-size 4] [--steps 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "verl_run.json"
ENV_ID = "anchorgym/Sokoban-v0"


class HFServer:
    """verl's LLM server interface (``generate``) over a transformers model: sampled ids and their log-probs."""

    def __init__(self, model, eos_id: int, max_new_tokens: int, seed: int = 0) -> None:
        self.model, self.eos_id, self.max_new_tokens = model, eos_id, max_new_tokens
        self.lock, self.generator_seed, self.tokens, self.seconds = threading.Lock(), seed, 0, 0.0

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        ids, logprobs = await asyncio.to_thread(self._sample, list(prompt_ids))
        return TokenOutput(token_ids=ids, log_probs=logprobs)

    @torch.no_grad()
    def _sample(self, prompt: list[int]) -> tuple[list[int], list[float]]:
        with self.lock:  # one model, one device: one request at a time
            start = time.perf_counter()
            device = next(self.model.parameters()).device
            self.generator_seed += 1
            torch.manual_seed(self.generator_seed)
            out = self.model.generate(
                torch.tensor([prompt], device=device),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long, device=device),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=self.max_new_tokens,
                eos_token_id=self.eos_id,
                pad_token_id=self.eos_id,
                output_scores=True,
                return_dict_in_generate=True,
            )
            ids = out.sequences[0, len(prompt) :].tolist()
            logprobs = [
                float(torch.log_softmax(score[0].float(), -1)[token])
                for score, token in zip(out.scores, ids, strict=False)
            ]
            if self.eos_id in ids:  # generate pads after EOS; the turn ends at it
                cut = ids.index(self.eos_id) + 1
                ids, logprobs = ids[:cut], logprobs[:cut]
            self.tokens += len(ids)
            self.seconds += time.perf_counter() - start
            return ids, logprobs


def play(args: argparse.Namespace, model_path: str, model) -> tuple[object, HFServer]:
    """verl's AgentLoopWorker plays the groups; return its DataProto and the server."""
    from transformers import AutoTokenizer
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.protocol import DataProto

    from anchorgym.integrations.verl.main import compose
    from anchorgym.integrations.verl.rows import episode_rows

    config = compose(
        [
            "algorithm.adv_estimator=anchorgym",
            "trainer.use_v1=false",
            "+anchorgym.estimator=gigpo",
            f"actor_rollout_ref.model.path={model_path}",
            "actor_rollout_ref.rollout.name=vllm",
            f"actor_rollout_ref.rollout.n={args.group_size}",
            "actor_rollout_ref.rollout.prompt_length=2048",
            f"actor_rollout_ref.rollout.response_length={args.response_length}",
        ]
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    server = HFServer(model, tokenizer.eos_token_id, args.max_new_tokens)
    rows = episode_rows(ENV_ID, [str(t) for t in range(args.groups)], split="test", max_steps=args.steps)

    async def run():
        worker = AgentLoopWorker(config, server)
        fields = {key: np.array([row[key] for row in rows], dtype=object) for key in ("data_source", "agent_name")}
        fields["extra_info"] = np.array([row["extra_info"] for row in rows], dtype=object)
        fields["raw_prompt"] = np.empty(len(rows), dtype=object)
        fields["raw_prompt"][:] = [row["prompt"] for row in rows]
        fields["index"] = np.arange(len(rows))
        fields["uid"] = np.array([str(uuid.uuid4()) for _ in rows], dtype=object)
        batch = DataProto.from_dict(non_tensors=fields).repeat(args.group_size, interleave=True)
        return await worker.generate_sequences(batch)

    return asyncio.run(run()), server


def response_logprobs(model, batch, autocast: bool) -> torch.Tensor:
    """log pi of every response token from verl's padded input_ids / attention_mask / position_ids."""
    device = next(model.parameters()).device
    width = batch.batch["responses"].shape[1]
    context = (
        torch.autocast(device.type, dtype=torch.bfloat16) if autocast else torch.autocast(device.type, enabled=False)
    )
    with context:
        logits = model(
            input_ids=batch.batch["input_ids"].to(device),
            attention_mask=batch.batch["attention_mask"].to(device),
            position_ids=batch.batch["position_ids"].to(device),
        ).logits[:, -width - 1 : -1]
    logp = torch.log_softmax(logits.float(), -1)
    return logp.gather(-1, batch.batch["responses"].to(device).unsqueeze(-1)).squeeze(-1)


def measure(args: argparse.Namespace, work: Path) -> dict[str, float]:
    from transformers import AutoModelForCausalLM
    from verl.trainer.ppo import ray_trainer
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla
    from verl.workers.config import ActorConfig

    from anchorgym.integrations.verl.advantage import AnchorAdvantageSettings, install
    from anchorgym.policies.tiny import build_tiny_model

    model_path = str(build_tiny_model() if args.model == "tiny" else args.model)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).to(args.device)
    model.eval()
    start = time.perf_counter()
    batch, server = play(args, model_path, model)
    rollout_s = time.perf_counter() - start
    install(AnchorAdvantageSettings("gigpo", options={"mode": "mean_norm", "stats": "step"}))
    batch = ray_trainer.compute_advantage(batch, adv_estimator="anchorgym")
    mask = batch.batch["response_mask"].to(args.device).float()
    autocast = args.device == "cuda"
    model.train()
    with torch.no_grad():
        old = response_logprobs(model, batch, autocast)
    gap = ((old - batch.batch["rollout_log_probs"].to(args.device)).abs() * mask)[mask > 0]
    config = ActorConfig(
        strategy="fsdp", rollout_n=args.group_size, ppo_micro_batch_size_per_gpu=1, clip_ratio_high=0.28
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    logp = response_logprobs(model, batch, autocast)
    loss, metrics = compute_policy_loss_vanilla(
        old, logp, batch.batch["advantages"].to(args.device), mask, loss_agg_mode="token-mean", config=config
    )
    loss.backward()
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
    optimizer.step()
    turns = sum(len(s) for s in batch.non_tensor_batch["anchorgym_spans"])
    return {
        "trajectories": len(batch),
        "turns": turns,
        "model_tokens": int(mask.sum()),
        "rollout_s": rollout_s,
        "sampled_tokens_per_s": server.tokens / max(server.seconds, 1e-9),
        "nonzero_advantage_share": float((batch.batch["advantages"].abs() > 0).float().sum() / mask.sum()),
        "logp_gap_mean": float(gap.mean()),
        "logp_gap_max": float(gap.max()),
        "loss": float(loss.detach()),
        "ppo_kl": float(metrics["actor/ppo_kl"]),
        "grad_norm": grad_norm,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--model", default="tiny", help="'tiny' (built-in Qwen2) or a model directory")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--response-length", type=int, default=4096)
    args = parser.parse_args(argv)
    try:
        import verl  # noqa: F401
    except ImportError:
        print("SKIP verl_run: verl is not installed (pip install 'verl==0.9.1')")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("SKIP verl_run: no CUDA device (use --device cpu to rehearse)")
        return 0
    with tempfile.TemporaryDirectory() as work:
        os.environ.setdefault("ANCHORGYM_CACHE_DIR", str(Path(work) / "cache"))
        result = {"device": args.device, **measure(args, Path(work))}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(
        f"VERL rollout {result['trajectories']} trajectories, {result['turns']} turns, "
        f"{result['model_tokens']} model tokens in {result['rollout_s']:.1f} s "
        f"({result['sampled_tokens_per_s']:.0f} sampled tokens/s)"
    )
    print(f"VERL advantages nonzero on {result['nonzero_advantage_share']:.1%} of model tokens")
    print(f"VERL logp_gap mean {result['logp_gap_mean']:.4f} max {result['logp_gap_max']:.4f} (rollout vs learner)")
    print(f"VERL update loss {result['loss']:.4f} ppo_kl {result['ppo_kl']:.2e} grad_norm {result['grad_norm']:.4f}")
    finite = all(math.isfinite(result[k]) for k in ("loss", "grad_norm", "logp_gap_max"))
    # float32 sampler vs the learner: equal kernels on CPU; bf16 autocast on CUDA moves them by ~0.01-0.2 nats
    aligned = result["logp_gap_max"] < (1.0 if args.device == "cuda" else 1e-3)
    print(f"CHECK verl_run finite loss and gradients, aligned log-probs: {'PASS' if finite and aligned else 'FAIL'}")
    return 0 if finite and aligned else 1


if __name__ == "__main__":
    sys.exit(main())
