"""A tiny random-init Qwen2 causal LM with a locally trained tokenizer, for tests and demos.

The tokenizer is a byte-level BPE trained on a small built-in corpus that
holds the chat markup and the prompt/answer tags, so prompts tokenise into a
few hundred ids; the model has ~0.2 M parameters and builds in about a second.
Build results are cached by content hash: repeated builds are instant.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from anchorgym.policies.cache import is_ready, model_cache_dir, publish_dir

TINY_VERSION = "2"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CORPUS = [
    "<think> I should look at the state first. </think> <action> go north </action>",
    "<search> who wrote the novel </search> <answer> yes </answer> <code> print(apis) </code>",
    "system user assistant You are an agent. Think in <think>...</think> and answer in <action>...</action>.",
    "Your task is to: put a clean mug in the coffee machine. Admissible actions: look, inventory, take, move.",
    "The counter shows 0. Make the counter show 7. add 1 add 3 sub 1 push box up down left right",
    "[Step 1] Observation: You are in the middle of a room. Action: go to cabinet 1",
    "Sokoban: # wall, _ floor, O target, X box, P player. Move the boxes onto the targets.",
    "search[query] click[buy now] WebShop instruction: i need a blue shirt under 30 dollars",
    "0 1 2 3 4 5 6 7 8 9 10 . , : ; ? ! ( ) [ ] { } ' \" - + * / = < > the a an of to in is it",
]
QWEN2_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
MODEL_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
}


def tiny_fingerprint(vocab_size: int = 512, seed: int = 0) -> str:
    """Return the hash naming a tiny model build (changes whenever its recipe does)."""
    recipe = json.dumps([TINY_VERSION, CORPUS, MODEL_CONFIG, CHAT_TEMPLATE, vocab_size, seed], sort_keys=True)
    return hashlib.blake2b(recipe.encode(), digest_size=6).hexdigest()


def build_tiny_model(path: str | Path | None = None, vocab_size: int = 512, seed: int = 0) -> Path:
    """Build (or reuse) the tiny Qwen2 model + tokenizer directory.

    Args:
        path: where to save it; default: the user cache (``models/tiny-qwen2-<hash>``).
        vocab_size: BPE vocabulary size (bytes + merges + special tokens).
        seed: seeds the weight initialisation (a private generator; global RNGs are left alone).

    Returns:
        The directory, loadable with ``from_pretrained`` and the ``hf:`` policy.
    """
    target = Path(path) if path else model_cache_dir(f"tiny-qwen2-{tiny_fingerprint(vocab_size, seed)}")
    if is_ready(target):
        return target
    return publish_dir(target, lambda tmp: _write_tiny(tmp, vocab_size, seed))


def _write_tiny(out: Path, vocab_size: int, seed: int) -> None:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = train_tokenizer(vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        **MODEL_CONFIG,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def train_tokenizer(vocab_size: int = 512):  # noqa: ANN201 - transformers is imported lazily
    """Train the byte-level BPE tokenizer on :data:`CORPUS` and wrap it for transformers."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    # Qwen2's own normalisation and pre-tokenisation, so AutoTokenizer (which rebuilds a Qwen2Tokenizer
    # from the saved vocab for a qwen2 model) splits text exactly as the trained tokenizer does.
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        padding_side="left",
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
