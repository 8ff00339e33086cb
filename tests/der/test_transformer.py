"""IEC 60076-7 thermal model of der/transformer.py against hand computations."""

import math

import numpy as np
import pytest

from evgrid.der.transformer import TransformerThermal


def _lot1():
    # paper 004 Table I lot 1 (315 kVA, 1.05 / 4.2 kW) with Table II thermal data
    return TransformerThermal(rated_kva=315, no_load_loss_kw=1.05, load_loss_kw=4.2)


def test_steady_hot_spot_matches_hand_computation():
    tr = _lot1()
    # R = 4.2 / 1.05 = 4; K = 1.2, ambient 20 C:
    # top-oil rise 55 * ((1 + 4 * 1.44) / 5)^1 = 74.36 K; gradient 25 * 1.2^1.6 = 33.468 K -> 127.83 C
    hand = 20.0 + 55.0 * (1 + 4 * 1.44) / 5 + 25.0 * math.exp(1.6 * math.log(1.2))
    assert hand == pytest.approx(127.828, abs=1e-3)
    assert float(tr.steady_hot_spot_c(1.2, 20.0)) == pytest.approx(hand, abs=1e-9)
    # rated load: ambient + 55 + 25
    assert float(tr.steady_hot_spot_c(1.0, 30.0)) == pytest.approx(110.0)
    # relative ageing 1 at 98 C and doubling every 6 K (non-upgraded paper)
    assert float(tr.relative_ageing(98.0)) == pytest.approx(1.0)
    assert float(tr.relative_ageing(104.0)) == pytest.approx(2.0)


def test_transient_converges_to_steady_state_and_has_the_iec_time_constant():
    tr = _lot1()
    k = np.full(48, 1.2)
    res = tr.simulate(k, 20.0, step_min=60.0, initial="cold")
    assert res.hot_spot_end_c[-1] == pytest.approx(float(tr.steady_hot_spot_c(1.2, 20.0)), abs=1e-3)
    # top oil after one oil time constant (180 min = 3 steps): 63.2 % of its ultimate rise
    assert res.top_oil_end_c[2] - 20.0 == pytest.approx(74.36 * (1 - math.exp(-1.0)), rel=1e-6)
    # constant load at the reference hot spot consumes one hour of life per hour
    k_ref = tr.max_load_factor(ambient_c=20.0, hot_spot_limit_c=98.0, k_cap=1.5)
    steady = tr.simulate(np.full(24, k_ref), 20.0, step_min=60.0, initial="steady")
    assert steady.loss_of_life_h == pytest.approx(np.ones(24), rel=1e-6)


def test_bad_rating_is_named():
    with pytest.raises(ValueError, match="rated_kva must be > 0"):
        TransformerThermal(rated_kva=0, no_load_loss_kw=1.0, load_loss_kw=4.0)
