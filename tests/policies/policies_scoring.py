"""Re-scoring helper shared by the model-policy tests."""

from __future__ import annotations

import torch


def rescore(model, prompt_ids, response_ids, temperature=0.0, top_p=1.0):
    """Log-probs of ``response_ids`` from one unpadded forward pass, under the sampling distribution."""
    with torch.no_grad():
        ids = torch.tensor([prompt_ids + response_ids], device=model.device)
        logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].double().cpu()
    if temperature > 0:
        logits = logits / temperature
        probs = logits.softmax(-1)
        ordered, order = probs.sort(-1, descending=True)
        outside = (ordered.cumsum(-1) - ordered) >= top_p  # the nucleus: smallest prefix reaching top_p
        logits = logits.masked_fill(torch.zeros_like(outside).scatter(-1, order, outside), float("-inf"))
    return logits.log_softmax(-1).gather(-1, torch.tensor(response_ids)[:, None])[:, 0]
