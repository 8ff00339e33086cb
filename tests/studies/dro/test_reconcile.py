"""Reconciliation inputs (issue 28 item 3): hub-height extrapolation and the feeder's own losses."""

import numpy as np
import pytest

from evgrid.der.wind import log_law_speed
from evgrid.studies.dro.config import DroConfig
from evgrid.studies.dro.reconcile import ac_case
from evgrid.studies.dro.system import make_system


def test_log_law_matches_the_hand_value_and_rejects_a_bad_roughness():
    # 2 m -> 80 m over z0 = 0.1 m: ln(800) / ln(20) = 2.2314
    assert log_law_speed(np.array([1.0]), 2.0, 80.0, 0.1)[0] == pytest.approx(np.log(800) / np.log(20))
    with pytest.raises(ValueError, match="roughness"):
        log_law_speed(np.array([1.0]), 2.0, 80.0, 5.0)


def test_the_33_bus_case_loses_203_kw_at_its_peak_load_without_any_lane(dro_params, net33):
    """Baran & Wu's 33-bus feeder: 202.7 kW of losses and V_min 0.913 p.u. at the case load (the published
    base case), i.e. above the paper's 32 kW (0.8 MW x capacity_scale) before a lane is connected."""
    sysm = make_system(net33.with_ratings(default_kva=6000.0), DroConfig.from_params(dro_params), np.ones(24), 60)
    base = ac_case(sysm, 1.0, None)
    assert base["loss_kw"] == pytest.approx(202.7, abs=0.5)
    assert base["v_min_pu"] == pytest.approx(0.913, abs=0.002)
    near = ac_case(sysm, 1.0, np.full(8, 400.0), [2] * 8)
    spread = ac_case(sysm, 1.0, np.full(8, 400.0))
    assert base["loss_kw"] < near["loss_kw"] < spread["loss_kw"]
