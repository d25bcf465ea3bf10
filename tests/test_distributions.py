"""The distribution functions of hglm._distributions against scipy.stats."""

from __future__ import annotations

import numpy as np
from scipy import stats

from hglm import _distributions as dist

X = np.array([-6.0, -1.3, 0.0, 0.4, 2.5, 9.0])
P = np.array([1e-12, 0.025, 0.3, 0.5, 0.9, 1.0 - 1e-10])


def test_normal():
    np.testing.assert_allclose(dist.norm_cdf(X), stats.norm.cdf(X), rtol=1e-14)
    np.testing.assert_allclose(dist.norm_sf(X), stats.norm.sf(X), rtol=1e-14)
    np.testing.assert_allclose(dist.norm_pdf(X), stats.norm.pdf(X), rtol=1e-14)
    np.testing.assert_allclose(dist.norm_ppf(P), stats.norm.ppf(P), rtol=1e-14)


def test_chi_squared_t_and_gamma():
    x = np.abs(X) + 0.1
    for df in (1.0, 3.0, 12.5):
        np.testing.assert_allclose(dist.chi2_sf(x, df), stats.chi2.sf(x, df), rtol=1e-12)
        np.testing.assert_allclose(dist.chi2_ppf(P, df), stats.chi2.ppf(P, df), rtol=1e-12)
        np.testing.assert_allclose(dist.t_sf(X, df), stats.t.sf(X, df), rtol=1e-12)
    np.testing.assert_allclose(dist.gamma_ppf(P, 0.5, 2.0),
                               stats.gamma.ppf(P, a=0.5, scale=2.0), rtol=1e-12)


def test_import_hglm_leaves_scipy_stats_out():
    """``import hglm`` does not import scipy.stats (a third of a second)."""
    import subprocess
    import sys

    code = "import sys, hglm; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
