"""PV power (paper 002 eq. 1) and sizing."""

import numpy as np
import pytest

from evgrid.der.pv import pv_area_for_energy_m2, pv_power_kw


def test_pv_power_equation_one():
    np.testing.assert_allclose(pv_power_kw(np.array([1000.0, 500.0, -3.0]), 0.2, 10.0), [2.0, 1.0, 0.0])


def test_area_sizing_reproduces_target_energy():
    ghi = np.concatenate([np.zeros(6), np.linspace(100, 900, 6), np.linspace(900, 100, 6), np.zeros(6)])
    area = pv_area_for_energy_m2(ghi, 1.0, 0.18, 5000.0)
    assert pv_power_kw(ghi, 0.18, area).sum() * 1.0 == pytest.approx(5000.0)


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no sunshine"):
        pv_area_for_energy_m2(np.zeros(24), 1.0, 0.2, 10.0)
    with pytest.raises(ValueError, match="efficiency"):
        pv_power_kw(np.ones(3), 1.5, 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        pv_power_kw(np.array([1.0, np.nan]), 0.2, 1.0)
