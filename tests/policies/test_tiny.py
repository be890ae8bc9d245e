from __future__ import annotations

from anchorgym.policies.cache import is_ready
from anchorgym.policies.tiny import build_tiny_model, train_tokenizer


def test_tiny_model_loads_and_tokenises_like_its_trained_tokenizer(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert is_ready(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, local_files_only=True)
    text = "<|im_start|>user\nMake the counter show 17. <action>add 3</action><|im_end|>\n"
    ids = tokenizer(text)["input_ids"]
    assert ids == train_tokenizer()(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert model.config.model_type == "qwen2" and model.config.vocab_size == len(tokenizer) == 512
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    messages = [{"role": "user", "content": "hi"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_tiny_build_is_cached_and_deterministic(tiny_model_dir, tmp_path, monkeypatch):
    stamp = (tiny_model_dir / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny_model_dir) == tiny_model_dir
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt
    monkeypatch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path))
    cached = build_tiny_model()
    assert cached.parent == tmp_path / "models" and cached.name.startswith("tiny-qwen2-")
    original = (tiny_model_dir / "model.safetensors").read_bytes()
    assert (cached / "model.safetensors").read_bytes() == original  # same seed, same weights
