#!/usr/bin/env bash
# Pack what the GPU check needs and the device machine's image lacks into .gpu/ (git-ignored).
# Run here, on the CPU machine, before the two device calls (README.md beside this file):
#   .gpu/whl/        wheels of anchorgym's dependencies missing from the image, for its Python
#   .gpu/model-0/    the first part of the SmolLM2 GGUF file (carried by call 1, with the wheels)
#   .gpu/model-1/    the rest (carried by call 2)
# One call carries at most 64 MiB, and the GGUF file alone is 94 MiB: hence the two parts.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
PYVER=${PYVER:-3.12}              # the device image's Python (KINDS.md: 3.12.3)
LIMIT=$((64 * 1024 * 1024))
MARGIN=$((3 * 1024 * 1024))       # file-system slack and files written before the call

# Exact versions this project's tests pass with here; the image already holds torch, peft,
# accelerate, safetensors, tokenizers, pytest, pyyaml, rich, tqdm, httpx and numpy.
WHEELS=(
  gymnasium==1.4.0 farama-notifications==0.0.6
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  gguf==0.19.0 transformers==5.24.0
)

rm -rf .gpu && mkdir -p .gpu/whl .gpu/model-0 .gpu/model-1
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu/whl "${WHEELS[@]}"

GGUF=$("$PY" -c "from anchorgym.policies.gguf import smollm2_gguf_file; print(smollm2_gguf_file())")
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
wheels=$(du -cb .gpu/whl/*.whl | tail -1 | cut -f1)
total=$(stat -c %s "$GGUF")
first=$((LIMIT - MARGIN - tree - wheels))
rest=$((total - first))
if (( first <= 0 || rest > LIMIT - MARGIN - tree )); then
  echo "pack.sh: the wheels ($wheels B) and the model ($total B) do not fit in two 64 MiB calls" >&2
  exit 1
fi
head -c "$first" "$GGUF" > .gpu/model-0/part
tail -c "+$((first + 1))" "$GGUF" > .gpu/model-1/part
sha256sum "$GGUF" | cut -d' ' -f1 > .gpu/model-1/sha256
basename "$GGUF" > .gpu/model-1/name
echo "packed: $(ls .gpu/whl | wc -l) wheels ($((wheels / 1048576)) MiB), model in parts of" \
  "$((first / 1048576)) + $((rest / 1048576)) MiB, tree $((tree / 1048576)) MiB"
