"""Policies: the batched agent interface and its back-ends (see :mod:`anchorgym.policies.registry`)."""
