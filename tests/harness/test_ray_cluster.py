"""Losing a Ray node mid-run ends only the episodes its actors hosted; the run finishes and a retry replays them.

A private two-node cluster (``ray.cluster_utils.Cluster``; ``RAY_ADDRESS`` unset, so no cluster the
machine happens to know is touched). The policy removes the non-head node (its raylet and workers are
killed) after choosing the actions of one step, so the loss lands mid-episode at a fixed point.
"""

from __future__ import annotations

import json
import time

import pytest

from anchorgym.harness import records
from anchorgym.harness.rundir import record_key
from anchorgym.harness.runner import evaluate
from anchorgym.policies.scripted import RandomPolicy

SMOKE = "sokoban-6x6-1box/smoke@v1"
RUN = {"seeds": [0], "batch_size": 4, "progress": False}


class LosesNode(RandomPolicy):
    """The random policy, but at step ``at`` of its first batch it removes the cluster's second node."""

    def __init__(self, cluster=None, node=None, at: int = 2) -> None:
        super().__init__()
        self.cluster, self.node, self.at, self.lost_envs = cluster, node, at, None

    def act(self, inputs):
        outputs = super().act(inputs)
        if self.node is not None and self.lost_envs is None and inputs[0].step == self.at:
            self.lost_envs = self._envs_on(self.node.node_id)
            self.cluster.remove_node(self.node, allow_graceful=False)
            self._wait_until_marked_dead(self.node.node_id)
        return outputs

    @staticmethod
    def _wait_until_marked_dead(node_id: str) -> None:
        """Wait (on the condition, up to a generous bound) until Ray declares the node dead, as a real loss ends."""
        import ray

        deadline = time.monotonic() + 180
        while any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes()) and time.monotonic() < deadline:
            time.sleep(0.2)

    def _envs_on(self, node_id: str) -> list[int]:
        backend = self.envs.backend
        return [i for w, node in enumerate(backend.nodes) if node == node_id for i in backend.slices[w]]


def _sorted_lines(out) -> list[str]:
    lines = (out / records.EPISODES_FILE).read_text().splitlines()
    return sorted(lines, key=lambda line: record_key(json.loads(line)))


@pytest.mark.slow
def test_a_lost_node_ends_only_its_episodes_and_the_run_finishes(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    evaluate(SMOKE, LosesNode(), out=tmp_path / "reference", **RUN)  # the same draws, never interrupted
    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    policy = LosesNode(cluster, node)
    out = tmp_path / "out"
    try:
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        result = evaluate(SMOKE, policy, out=out, backend="ray", num_workers=2, **RUN)
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert len(policy.lost_envs) == 2  # one of the two actors on each node
    # in batch 0 sub-env i plays task i: exactly the lost node's episodes errored; batch 1 ran on the live node
    assert [e["task_index"] for e in result["errors"]] == policy.lost_envs
    assert "stopped during step (its process or its node was lost)" in result["errors"][0]["error"]
    assert result["errors"][0]["error"].startswith("WorkerError: Ray actor")
    again = evaluate(SMOKE, LosesNode(), out=out, resume=True, retry_errored=True, **RUN)
    assert "errors" not in again
    assert _sorted_lines(out) == _sorted_lines(tmp_path / "reference")


@pytest.mark.slow
def test_ray_address_runs_the_envs_on_that_ray(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    from anchorgym.cli import main

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if ray.is_initialized():
        ray.shutdown()
    out = tmp_path / "out"
    try:  # "local": Ray's address for a new private instance, the same path as ray://head:10001
        args = ["eval", SMOKE, "--policy", "random", "--out", str(out), "--ray-address", "local", "--no-progress"]
        assert main(args) == 0
    finally:
        ray.shutdown()
    assert json.loads((out / records.RESULT_FILE).read_text())["run"]["backend"] == "RayBackend"
