"""Tests of ``hglm.fit.random_effects``: the terms' slices of v and their random
families applied slice by slice (DESIGN.md's table)."""

from __future__ import annotations

import numpy as np
import pytest

from hglm.engine import as_block
from hglm.fit.random_effects import RandomEffects
from hglm.spec import Beta, Gamma, Gaussian, InverseGamma, Problem, RandomTermModel
from hglm.spec.families import random_family, response_family
from hglm.spec.links import LINKS


def _effects() -> RandomEffects:
    """A Gaussian term of 3 effects and a gamma (log) term of 2."""
    n = 6
    terms = [RandomTermModel(random_family(f), None, LINKS["log"]) for f in ("gaussian", "gamma")]
    pb = Problem(
        y=np.ones(n), X=np.ones((n, 1)),
        blocks=[as_block(np.eye(3)[np.arange(n) % 3]), as_block(np.eye(2)[np.arange(n) % 2])],
        terms=terms, family=response_family("poisson"), weights=np.ones(n),
        offset=np.zeros(n), x_disp=None, link_disp=LINKS["log"], fix_disp=1.0,
    )
    return RandomEffects(pb)


def test_slices_sizes_and_psi() -> None:
    eff = _effects()
    assert eff.sizes == [3, 2]
    assert eff.slices == [slice(0, 3), slice(3, 5)]
    np.testing.assert_array_equal(eff.psi, [0, 0, 0, 1, 1])


def test_scale_variance_and_deviance_per_term() -> None:
    eff = _effects()
    v = np.array([-0.5, 0.0, 0.7, -0.3, 0.4])
    u, du_dv = eff.scale(v)
    np.testing.assert_allclose(u, np.concatenate([v[:3], np.exp(v[3:])]), rtol=1e-15)
    np.testing.assert_allclose(du_dv, np.concatenate([np.ones(3), np.exp(v[3:])]), rtol=1e-15)
    np.testing.assert_allclose(eff.variance(u), np.concatenate([np.ones(3), u[3:]]), rtol=1e-15)
    d = np.concatenate([u[:3] ** 2, -2.0 * (np.log(u[3:]) + 1.0 - u[3:])])
    np.testing.assert_allclose(eff.deviance(u), d, rtol=1e-12)


_LINKED = [(f, link) for f in (Gaussian, Gamma, Beta, InverseGamma) for link in f.random_links]


@pytest.mark.parametrize(("family", "link"), _LINKED,
                         ids=[f"{f.__name__}-{link}" for f, link in _LINKED])
def test_information_is_the_second_derivative_of_half_the_deviance(family: type,
                                                                   link: str) -> None:
    """d^2/dv^2 of d(psi, u(v)) / 2 by central differences; equal to the expected
    information du/dv^2 / V_r(u) for a canonical link."""
    rand = family(link).as_random()
    n = 4
    pb = Problem(
        y=np.ones(n), X=np.ones((n, 1)), blocks=[as_block(np.eye(n))],
        terms=[RandomTermModel(rand, None, LINKS["log"])], family=response_family("poisson"),
        weights=np.ones(n), offset=np.zeros(n), x_disp=None, link_disp=LINKS["log"],
        fix_disp=1.0,
    )
    eff = RandomEffects(pb)
    u = {Gaussian: [-1.5, -0.2, 0.4, 2.0], Beta: [0.1, 0.3, 0.6, 0.9]}.get(
        family, [0.2, 0.7, 1.6, 4.0])
    v = rand.link.link(np.array(u))
    h = 1e-4

    def half_deviance(x: np.ndarray) -> np.ndarray:
        return eff.deviance(eff.scale(x)[0]) / 2.0

    fd = (half_deviance(v + h) - 2.0 * half_deviance(v) + half_deviance(v - h)) / h**2
    uu, du_dv = eff.scale(v)
    info = eff.information(uu, du_dv)
    np.testing.assert_allclose(info, fd, rtol=1e-5)
    expected = du_dv**2 / eff.variance(uu)
    assert eff.canonical == rand.canonical
    assert np.allclose(info, expected, rtol=1e-12) == rand.canonical
