"""The policy the trainer rolls out: the model being trained, sampling with recorded log-probs.

It shares its weights with the learner (no weight sync on CPU/HF), renders the
env's registered prompt template with the tokenizer's chat template, and
returns the exact prompt and response token ids with the per-token log-probs
of the distribution it sampled from (``softmax(logits / temperature)``, restricted
to the choice tokens in ``choice`` format), the same distribution
:func:`token_logprobs` scores in the update.

Action formats:

* ``text``: free generation; the action is the last ``<action>``-style tag of
  the prompt template, else the raw text (which the env then rejects); a protocol
  template (:mod:`anchorgym.policies.protocols`) maps the text as its original framework does.
* ``choice``: the model answers with one digit token ``i`` picking the i-th
  admissible action, so even a tiny untrained model acts validly; used for the
  CPU learning test and benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from anchorgym.errors import ConfigError
from anchorgym.policies.base import AgentInput, GenerationConfig, Policy, PolicyOutput
from anchorgym.policies.prompting import template_for
from anchorgym.policies.protocols import action_from_text


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float, allowed: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-prob of each target token and the entropy, under ``softmax(logits / T)`` (restricted to ``allowed``).

    Args:
        logits: ``[..., V]`` raw model logits.
        targets: ``[...]`` token ids (in ``allowed`` when it is given; others score as the first choice).
        temperature: sampling temperature.
        allowed: optional 1-D tensor of the only token ids that may be sampled.
    """
    logits = logits.float() / temperature
    if allowed is not None:
        logits = logits[..., allowed]
        lookup = torch.zeros(int(allowed.max()) + 1, dtype=torch.long, device=allowed.device)
        lookup[allowed] = torch.arange(len(allowed), device=allowed.device)
        targets = lookup[targets.clamp(max=len(lookup) - 1)]
    log_probs = torch.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return picked, entropy


def _cache_of(out: Any) -> dict[str, Any]:
    """The KV cache of a forward's output, as the keyword the next forward takes.

    transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns, then goes in 5.40);
    the output carries the name its model's ``forward`` takes.
    """
    return {"cache": out["cache"]} if "cache" in out else {"past_key_values": out["past_key_values"]}


class TrainerPolicy(Policy):
    """Samples actions from the model under training (see module docs).

    Args:
        model: a transformers causal LM (possibly peft-wrapped).
        tokenizer: its tokenizer (with a chat template).
        env_id: selects the prompt template.
        action_format: ``"text"`` or ``"choice"``.
        choice_size: number of digit choices in ``choice`` format.
        history_length: past steps shown in each prompt.
        temperature: sampling temperature; 0 decodes greedily (evaluation).
        max_new_tokens: cap per step in ``text`` format.
        seed: seeds the private sampling generator.
        max_prompt_length: cap on prompt tokens (None: no cap), as verl's ``data.max_prompt_length``.
        prompt_truncation: a longer prompt raises (``"error"``) or keeps its last tokens (``"left"``).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        env_id: str,
        action_format: str = "text",
        choice_size: int = 4,
        history_length: int = 2,
        temperature: float = 1.0,
        max_new_tokens: int = 256,
        seed: int = 0,
        max_prompt_length: int | None = None,
        prompt_truncation: str = "error",
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.template = template_for(env_id)
        self.action_format, self.history_length = action_format, history_length
        self.temperature, self.max_new_tokens = temperature, max_new_tokens
        self.max_prompt_length, self.prompt_truncation = max_prompt_length, prompt_truncation
        self.device = next(model.parameters()).device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.allowed = None
        if action_format == "choice":
            self.allowed = torch.tensor([self._digit_id(i) for i in range(choice_size)], device=self.device)
        self.spec = f"trainer:{action_format}"
        self.generation = GenerationConfig(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)

    def reseed(self, seed: int) -> None:
        """Restart the sampling stream at ``seed`` (the harness calls this per evaluation batch)."""
        self.generator.manual_seed(int(seed))

    def _digit_id(self, digit: int) -> int:
        ids = self.tokenizer(str(digit), add_special_tokens=False).input_ids
        if len(ids) != 1:
            raise ConfigError(f"choice format needs single-token digits; {digit!r} tokenises to {ids}.")
        return ids[0]

    # ---------------------------------------------------------------- prompts
    def prompt_ids(self, agent_input: AgentInput) -> list[int]:
        """Return the exact prompt token ids for one step."""
        messages = self.template.messages(agent_input, self.history_length)
        if self.action_format == "choice":
            messages[-1]["content"] += "\n" + self._choice_line(agent_input)
        continues = messages[-1]["role"] == "assistant"  # Search-R1's one-turn protocol: write on in that message
        text = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=not continues, continue_final_message=continues, tokenize=False
        )
        return self._capped(list(self.tokenizer(text, add_special_tokens=False).input_ids), agent_input)

    def _capped(self, ids: list[int], agent_input: AgentInput) -> list[int]:
        """Apply ``max_prompt_length`` as verl's ``data.truncation`` does (``error`` or ``left``)."""
        cap = self.max_prompt_length
        if cap is None or len(ids) <= cap:
            return ids
        if self.prompt_truncation == "left":
            return ids[-cap:]
        raise ConfigError(
            f"The prompt of step {agent_input.step + 1} on task {agent_input.task_id!r} has {len(ids)} tokens, over "
            f"max_prompt_length ({cap}). Raise max_prompt_length, shorten history_length, or set "
            "prompt_truncation: left to keep the prompt's last tokens."
        )

    def _choice_line(self, agent_input: AgentInput) -> str:
        actions = agent_input.admissible_actions
        if not actions:
            raise ConfigError(f"choice format needs admissible actions; {agent_input.env_id} has an open action space.")
        listed = " ".join(f"{i}={a}" for i, a in enumerate(actions[: len(self.allowed)]))
        return f"Answer with one digit: {listed}"

    # ---------------------------------------------------------------- acting
    def act(self, inputs: Sequence[AgentInput]) -> list[PolicyOutput]:
        """Sample one response per input and map it to an action."""
        prompts = [self.prompt_ids(i) for i in inputs]
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            responses, logprobs = self.sample(prompts, [i.seed for i in inputs])
        self.model.train(was_training)
        return [self._output(i, p, r, lp) for i, p, r, lp in zip(inputs, prompts, responses, logprobs, strict=True)]

    def _output(self, agent_input: AgentInput, prompt: list[int], response: list[int], lp: list[float]) -> PolicyOutput:
        text = self.tokenizer.decode(response, skip_special_tokens=True)
        if self.action_format == "choice":
            index = self.allowed.tolist().index(response[0])
            actions = agent_input.admissible_actions or []
            action, parsed = (actions[index], True) if index < len(actions) else (text, False)
        else:  # as the chat policies read a turn: a protocol's projection, a raw turn, or the answer tag
            result = action_from_text(self.template, text, agent_input)
            action, parsed = result.action, result.parsed
        return PolicyOutput(text, action, parsed, prompt, response, lp)

    def sample(
        self, prompts: list[list[int]], seeds: Sequence[int | None] | None = None
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Sample responses for left-padded prompts with a KV cache; return token ids and log-probs.

        With a seed for every row (the harness's per-episode step seeds), row ``i`` draws from its own
        generator, so its tokens do not depend on the other rows of the batch; else every row draws from
        the policy's own stream (training rollouts, seeded per iteration).
        """
        rows = None
        if seeds is not None and len(seeds) == len(prompts) and all(s is not None for s in seeds):
            rows = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        ids, mask = left_pad(prompts, self.tokenizer.pad_token_id, self.device)
        positions = real_positions(mask)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        steps = 1 if self.action_format == "choice" else self.max_new_tokens
        finished = torch.zeros(len(prompts), dtype=torch.bool, device=self.device)
        tokens, logps = [], []
        for _ in range(steps):
            token, logp = self._pick(out.logits[:, -1], rows)
            token = torch.where(finished, self.tokenizer.pad_token_id, token)
            tokens.append(token)
            logps.append(logp)
            finished = finished | (token == self.tokenizer.eos_token_id)
            if len(tokens) == steps or bool(finished.all()):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
            out = self.model(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **_cache_of(out),
            )
        return _trim(torch.stack(tokens, 1), torch.stack(logps, 1), self.tokenizer.eos_token_id)

    def _pick(
        self, logits: torch.Tensor, rows: list[torch.Generator] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = logits.float() if self.allowed is None else logits.float()[:, self.allowed]
        if self.temperature == 0:
            choice = scores.argmax(-1)
        elif rows is not None:
            choice = _inverse_cdf(torch.softmax(scores / self.temperature, dim=-1), rows)
        else:
            probs = torch.softmax(scores / self.temperature, dim=-1)
            choice = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
        token = choice if self.allowed is None else self.allowed[choice]
        temperature = self.temperature or 1.0
        logp, _ = token_logprobs(logits, token, temperature, self.allowed)
        return token, logp


def _inverse_cdf(probs: torch.Tensor, rows: list[torch.Generator]) -> torch.Tensor:
    """Draw one index per row by inverting its CDF at a uniform number from that row's own generator.

    The draw of row ``i`` depends only on ``probs[i]`` and ``rows[i]``, never on the batch around it; a
    token of zero probability is never drawn.
    """
    uniform = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in rows]).to(probs.device)
    cdf = probs.double().cumsum(-1)
    targets = (uniform * cdf[:, -1]).unsqueeze(-1)
    return torch.searchsorted(cdf, targets, right=True)[:, 0].clamp(max=cdf.shape[-1] - 1)


def left_pad(sequences: list[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token lists into ``(ids, attention_mask)`` tensors."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq) :] = 1
    return ids.to(device), mask.to(device)


def real_positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count real tokens only: a left-padded row starts at 0 where its tokens start."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def _trim(tokens: torch.Tensor, logps: torch.Tensor, eos_id: int) -> tuple[list[list[int]], list[list[float]]]:
    """Cut each row after its first EOS (kept: the model learns to stop)."""
    out_tokens, out_logps = [], []
    for row_tokens, row_logps in zip(tokens.tolist(), logps.tolist(), strict=True):
        end = row_tokens.index(eos_id) + 1 if eos_id in row_tokens else len(row_tokens)
        out_tokens.append(row_tokens[:end])
        out_logps.append(row_logps[:end])
    return out_tokens, out_logps
