"""Every test is hermetic (tests/conftest.py): a session cache, no data paths from the shell, private Ray."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from anchorgym.cache import cache_root


def test_the_cache_is_the_sessions_not_the_users(hermetic, tmp_path_factory):
    assert cache_root() == hermetic
    assert hermetic.is_relative_to(tmp_path_factory.getbasetemp())
    assert not (hermetic / "alfworld").exists()  # ALFWorld games a user installed are not found here
    for name in ("ALFWORLD_DATA", "WEBSHOP_DATA", "APPWORLD_ROOT"):
        assert name not in os.environ


def test_shared_build_products_are_links_into_the_user_cache(hermetic):
    for entry in hermetic.iterdir():
        if entry.name in ("models", "alfworld-sas"):
            assert entry.is_symlink() and entry.resolve().name == entry.name


def test_ray_never_joins_a_cluster_it_finds():
    pytest.importorskip("ray")
    from ray._private.services import canonicalize_bootstrap_address

    assert os.environ["RAY_ADDRESS"] == "local"
    # None: ray.init starts a new local instance, even where /tmp/ray/ray_current_cluster names a running one
    assert canonicalize_bootstrap_address(None) is None
    code = "import os; print(os.environ['RAY_ADDRESS'], os.environ['ANCHORGYM_CACHE_DIR'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["local", str(cache_root())]  # processes a test starts inherit both
