"""Update memory: scoring only the response positions vs full-sequence logits, SmolLM2-135M on CPU.

One forward + backward of the update's log-probs over a micro-batch of Sokoban-sized rows
(a 400-token prompt and a 4-token response each), with activation checkpointing as the trainer
uses on a GPU, run twice in fresh processes:

- ``full``: the logits of every position (``[rows, width, 49152]``), then the response slice;
- ``kept``: the library's path (:func:`anchorgym.training.update.response_logprobs`), which asks the
  model for the logits of the last ``K + 1`` positions only.

Prints the peak memory of each above the loaded model, their ratio, and checks both give the same
log-probs. How the peak is measured, and why:

- every weight is read once after loading (``from_pretrained`` may leave them mapped from the
  safetensors file, paged in by the first forward), then the high-water mark is reset
  (``/proc/self/clear_refs``), and the peak is ``VmHWM`` minus the ``VmRSS`` at that point: the update's
  own memory, not the load's nor the model's;
- each child runs with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB. By default glibc raises that
  threshold to the size of the last freed block (up to 32 MiB), then serves every hidden-state-sized
  tensor (15 MiB here) from heaps it seldom returns, so a checkpointed pass that frees hundreds of them
  leaves freed memory counted in RSS. With the fixed threshold every such tensor is mapped on its own and
  unmapped when freed, so RSS follows the live tensors (what a GPU's allocator would have to hold).
  Measured (16 rows, weights not yet paged in): ``kept`` 4,350 MiB above the model with glibc's
  default, 1,443 MiB with the fixed threshold. The old method (``ru_maxrss`` after loading, default
  malloc) gave ``full`` 5,026 vs ``kept`` 4,508 MiB, 1.1x: freed tensors left in the heaps hid the saving.

Target: ``full`` needs >= 1.5x the memory of ``kept`` above the loaded model; measured 3,061 vs 941 MiB,
3.3x (16 rows, SmolLM2-135M, float32, torch 2.13 CPU). ``kept`` is about the float32 gradients of the
135M parameters (513 MiB) plus the 30 checkpointed layer inputs (16 x 404 x 576 x 4 B = 14 MiB each,
426 MiB); ``full`` also holds the float32 logits of every position (16 x 404 x 49,152 x 4 B = 1,212 MiB)
and, in the backward, a gradient of the same shape, where ``kept`` holds 5 positions of each. Usage:

    python benchmarks/bench_update_memory.py [--rows 16] [--tiny]

``--tiny`` scores 2 rows (numbers meaningless; it only shows the script runs) into
``results/update_memory.tiny.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from claims import Claims

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "update_memory.json"
PROMPT, RESPONSE = 400, 4
TARGET = 1.5
# every allocation of 64 KiB or more gets its own mapping, given back when freed: RSS follows live tensors
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": str(64 * 1024)}


def _status_mib(field: str) -> float:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def reset_peak() -> float:
    """Reset the process's RSS high-water mark to its current RSS (Linux), and return that RSS in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mib("VmRSS")


def measure(mode: str, rows: int) -> dict:
    """Run in a child process: one scored forward + backward, return its peak RSS and the log-prob sum."""
    import torch
    from transformers import AutoModelForCausalLM

    from anchorgym.policies.models import resolve_model
    from anchorgym.training.generation import token_logprobs
    from anchorgym.training.update import Sample, collate, enable_activation_checkpointing, response_logprobs

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(resolve_model("smollm2"), local_files_only=True)
    enable_activation_checkpointing(model)
    model.train()
    with torch.no_grad():  # page in the weights, which may still be mapped from the file: they are the model's
        for parameter in model.parameters():
            parameter.sum()
    ids = torch.randint(0, model.config.vocab_size, (rows, PROMPT + RESPONSE)).tolist()
    samples = [Sample(r[:PROMPT], r[PROMPT:], [0.0] * RESPONSE, 1.0) for r in ids]
    batch = collate(samples, model.config.pad_token_id or 0, "cpu")
    before = reset_peak()  # the loaded model (and the load's own transient peak) is not the update's memory
    if mode == "kept":
        logp, _ = response_logprobs(model, batch, 1.0, None, autocast=False)
    else:
        logits = model(input_ids=batch["ids"], attention_mask=batch["attention"]).logits[:, -RESPONSE - 1 : -1]
        logp, _ = token_logprobs(logits, batch["ids"][:, -RESPONSE:], 1.0)
    logp.sum().backward()
    peak = _status_mib("VmHWM")
    return {"model_rss_mib": before, "peak_mib": peak, "above_model_mib": peak - before, "logp_sum": float(logp.sum())}


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
    if not Path("/proc/self/clear_refs").exists():
        sys.exit("bench_update_memory.py reads the peak RSS from /proc/self (Linux only)")
    results = {}
    for mode in ("full", "kept"):
        command = [sys.executable, __file__, "--child", mode, "--rows", str(args.rows)]
        child = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, **CHILD_ENV})
        results[mode] = json.loads(child.stdout)
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
    document = {"rows": args.rows, "prompt": PROMPT, "response": RESPONSE, "child_env": CHILD_ENV, **results}
    path.write_text(json.dumps(document, indent=2))
    claims.exit()


if __name__ == "__main__":
    main()
