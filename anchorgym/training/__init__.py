"""GRPO-family training: advantage estimators, losses and the training loop.

Heavy dependencies (torch, transformers, peft) are imported by the submodules
that need them, never here.
"""
