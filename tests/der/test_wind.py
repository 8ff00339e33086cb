"""Wind power curve on NSRDB-type wind speeds."""

import numpy as np
import pytest

from evgrid.der.wind import hub_height_speed, wind_power_pu


def test_power_curve_regions():
    v = np.array([0.0, 2.9, 3.0, 7.5, 12.0, 20.0, 25.0, 30.0])
    p = wind_power_pu(v, 3.0, 12.0, 25.0)
    np.testing.assert_allclose(p[[0, 1, 2, 4, 5, 6, 7]], [0, 0, 0, 1, 1, 0, 0])
    assert p[3] == pytest.approx((7.5**3 - 27) / (12**3 - 27))
    ramp = wind_power_pu(np.linspace(3, 12, 50))
    assert np.all(np.diff(ramp) > 0)


def test_hub_height_power_law_and_bad_input():
    assert hub_height_speed(np.array([5.0]), 10.0, 80.0)[0] == pytest.approx(5.0 * 8 ** (1 / 7))
    with pytest.raises(ValueError, match="wind_speed_m_per_s"):
        hub_height_speed(np.array([-1.0]), 10.0, 80.0)
    with pytest.raises(ValueError, match="cut_in < rated < cut_out"):
        wind_power_pu(np.array([5.0]), 12.0, 3.0, 25.0)
