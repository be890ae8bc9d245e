"""Update memory: scoring only the response positions vs full-sequence logits, SmolLM2-135M on CPU.

One forward + backward of the update's log-probs over a micro-batch of Sokoban-sized rows
(a 400-token prompt and a 4-token response each), with gradient checkpointing as the trainer
uses on a GPU, run twice in fresh processes:

- ``full``: the logits of every position (``[rows, width, 49152]``), then the response slice;
- ``kept``: the library's path (:func:`anchorgym.training.update.response_logprobs`), which asks the
  model for the logits of the last ``K + 1`` positions only.

Prints the peak RSS of each and their ratio, and checks both give the same log-probs.
Target: ``full`` needs >= 1.5x the memory of ``kept`` above the loaded model (the saving is the
logits tensors; checkpointed activations and gradients stay). Usage:

    python benchmarks/bench_update_memory.py [--rows 16] [--tiny]

``--tiny`` scores 2 rows (numbers meaningless; it only shows the script runs) into
``results/update_memory.tiny.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from claims import Claims

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "update_memory.json"
PROMPT, RESPONSE = 400, 4
TARGET = 1.5


def measure(mode: str, rows: int) -> dict:
    """Run in a child process: one scored forward + backward, return peak RSS and the log-prob sum."""
    import torch
    from transformers import AutoModelForCausalLM

    from anchorgym.policies.models import resolve_model
    from anchorgym.training.generation import token_logprobs
    from anchorgym.training.update import Sample, collate, enable_activation_checkpointing, response_logprobs

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(resolve_model("smollm2"), local_files_only=True)
    enable_activation_checkpointing(model)
    model.train()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ids = torch.randint(0, model.config.vocab_size, (rows, PROMPT + RESPONSE)).tolist()
    samples = [Sample(r[:PROMPT], r[PROMPT:], [0.0] * RESPONSE, 1.0) for r in ids]
    batch = collate(samples, model.config.pad_token_id or 0, "cpu")
    if mode == "kept":
        logp, _ = response_logprobs(model, batch, 1.0, None, autocast=False)
    else:
        logits = model(input_ids=batch["ids"], attention_mask=batch["attention"]).logits[:, -RESPONSE - 1 : -1]
        logp, _ = token_logprobs(logits, batch["ids"][:, -RESPONSE:], 1.0)
    logp.sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mib": peak / 1024, "above_model_mib": (peak - before) / 1024, "logp_sum": float(logp.sum())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--child", choices=["full", "kept"])
    parser.add_argument("--tiny", action="store_true", help="2 rows: only checks that the script works")
    args = parser.parse_args()
    if args.tiny:
        args.rows = 2
    if args.child:
        print(json.dumps(measure(args.child, args.rows)))
        return
    results = {}
    for mode in ("full", "kept"):
        command = [sys.executable, __file__, "--child", mode, "--rows", str(args.rows)]
        results[mode] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        peak, above = results[mode]["peak_mib"], results[mode]["above_model_mib"]
        print(f"{mode:5} peak RSS {peak:8.0f} MiB ({above:.0f} above the model)")
    claims = Claims(args.tiny)
    gap = abs(results["full"]["logp_sum"] - results["kept"]["logp_sum"])
    claims.check("CHECK", "full_and_kept_logprobs_equal", f"{gap:.2e}", "<= 1e-3 relative",
                 gap <= 1e-3 * abs(results["full"]["logp_sum"]))  # fmt: skip
    ratio = results["full"]["above_model_mib"] / results["kept"]["above_model_mib"]
    claims.check("RATIO", "full/kept_memory_above_the_model", f"{ratio:.1f}x", f">= {TARGET}x", ratio >= TARGET)
    path = RESULTS.with_suffix(".tiny.json") if args.tiny else RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": args.rows, "prompt": PROMPT, "response": RESPONSE, **results}, indent=2))
    claims.exit()


if __name__ == "__main__":
    main()
