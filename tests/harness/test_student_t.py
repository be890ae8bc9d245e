"""t_{0.975, df} from scipy.stats.t: the published 6-decimal table values, so earlier results stay identical."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anchorgym.harness.metrics import estimate, t_critical

# Two-sided 95% critical values of Student's t, df = 1..30, from standard tables (6 decimals).
TABLE = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)  # fmt: skip


def test_equals_the_table():
    assert tuple(t_critical(df) for df in range(1, 31)) == TABLE


def test_large_df_tends_to_the_normal_quantile():
    assert (t_critical(60), t_critical(120), t_critical(10**9)) == (2.000298, 1.979930, 1.959964)


def test_df_below_one_is_refused():
    with pytest.raises(ValueError, match="degrees of freedom must be >= 1, got 0"):
        t_critical(0)


def test_interval_of_two_seeds():
    # mean 0.5, sd = sqrt(0.5) * 0.2, se = 0.1; half-width 12.706205 * 0.1
    assert estimate([0.4, 0.6])["ci95"] == [round(0.5 - 1.2706205, 6), round(0.5 + 1.2706205, 6)]


def test_import_anchorgym_does_not_import_scipy():
    code = "import sys, anchorgym, anchorgym.harness.metrics; print('scipy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
