"""Battery storage charged only from PV surplus (paper 002 eq. 2-7) as a reusable Pyomo block.

Physically consistent version of eq. 2-7:
  SOC_t = SOC_{t-1} + eta_ch * P_ch,t * dt - P_dis,t * dt / eta_dis                (2)
  0 <= P_ch,t <= P_cont * x_t,   0 <= P_dis,t <= P_cont * y_t,   x_t + y_t <= 1    (4)-(6)
  P_ch,t <= max(P_PV,t - P_EV,t, 0)   (charged exclusively from PV surplus, eq. 3 and 7)
  SOC_min <= SOC_t <= SOC_max,  SOC_T >= SOC_0 (no end-of-day depletion)
Eq. 4-5 are written as equalities in the paper (fixed charging power), which makes the model
infeasible whenever the surplus is below P_cont; we bound the power by P_cont instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo


@dataclass(frozen=True)
class BatteryParams:
    """Battery ratings; energies in kWh, powers in kW."""

    capacity_kwh: float
    power_kw: float
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    soc_min_frac: float = 0.1
    soc_max_frac: float = 1.0
    soc_initial_frac: float = 0.1
    end_soc_at_least_initial: bool = True

    def __post_init__(self) -> None:
        checks = {
            "capacity_kwh >= 0": self.capacity_kwh >= 0,
            "power_kw >= 0": self.power_kw >= 0,
            "eta_charge in (0, 1]": 0 < self.eta_charge <= 1,
            "eta_discharge in (0, 1]": 0 < self.eta_discharge <= 1,
            "0 <= soc_min_frac <= soc_initial_frac <= soc_max_frac <= 1":
                0 <= self.soc_min_frac <= self.soc_initial_frac <= self.soc_max_frac <= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"BatteryParams invalid, expected {', '.join(bad)} (got {self})")


def size_battery(pv_kw: np.ndarray, ev_kw: np.ndarray, step_h: float, eta_charge: float,
                 soc_min_frac: float = 0.1, soc_max_frac: float = 1.0) -> tuple[float, float]:
    """Capacity and power that store the whole PV surplus of the day (paper 002 II-B).

    Power = the largest hourly PV surplus or EV deficit; usable energy = the stored surplus
    ``eta_charge * sum(max(PV - EV, 0)) * dt``, scaled up to the usable SOC window.
    """
    net = np.asarray(pv_kw, float) - np.asarray(ev_kw, float)
    surplus = np.clip(net, 0, None)
    deficit = np.clip(-net, 0, None)
    usable = eta_charge * surplus.sum() * step_h
    window = soc_max_frac - soc_min_frac
    if window <= 0:
        raise ValueError("battery SOC window soc_max_frac - soc_min_frac must be > 0")
    return float(usable / window), float(max(surplus.max(initial=0), deficit.max(initial=0)))


def define_battery_block(block: pyo.Block, time_index: list[int], params: BatteryParams, step_h: float,
                      charge_limit_kw: np.ndarray | None = None) -> pyo.Block:
    """Add battery variables and constraints (eq. 2, 4-6) on ``block`` over ``time_index``.

    ``charge_limit_kw`` (one value per step) caps charging, e.g. the PV surplus. Creates
    ``p_ch_kw, p_dis_kw, soc_kwh`` (continuous) and ``x_ch, y_dis`` (binary) indexed by ``T``.
    """
    t_list = list(time_index)
    block.T = pyo.Set(initialize=t_list, ordered=True)
    cap = params.capacity_kwh
    limit = (np.full(len(t_list), np.inf) if charge_limit_kw is None
             else np.asarray(charge_limit_kw, dtype=float))
    if limit.shape != (len(t_list),):
        raise ValueError(f"charge_limit_kw needs {len(t_list)} values, got shape {limit.shape}")
    limit_map = dict(zip(t_list, np.minimum(limit, params.power_kw), strict=True))
    block.p_ch_kw = pyo.Var(block.T, bounds=lambda b, t: (0.0, max(limit_map[t], 0.0)))
    block.p_dis_kw = pyo.Var(block.T, bounds=(0.0, params.power_kw))
    block.soc_kwh = pyo.Var(block.T, bounds=(params.soc_min_frac * cap, params.soc_max_frac * cap))
    block.x_ch = pyo.Var(block.T, domain=pyo.Binary)
    block.y_dis = pyo.Var(block.T, domain=pyo.Binary)
    soc0 = params.soc_initial_frac * cap
    first = t_list[0]
    prev = {t: t_list[i - 1] for i, t in enumerate(t_list) if i > 0}

    def soc_rule(b, t):
        before = soc0 if t == first else b.soc_kwh[prev[t]]
        return b.soc_kwh[t] == before + params.eta_charge * b.p_ch_kw[t] * step_h \
            - b.p_dis_kw[t] * step_h / params.eta_discharge

    block.soc_dynamics = pyo.Constraint(block.T, rule=soc_rule)
    block.charge_mode = pyo.Constraint(block.T, rule=lambda b, t: b.p_ch_kw[t] <= params.power_kw * b.x_ch[t])
    block.discharge_mode = pyo.Constraint(
        block.T, rule=lambda b, t: b.p_dis_kw[t] <= params.power_kw * b.y_dis[t])
    block.one_mode = pyo.Constraint(block.T, rule=lambda b, t: b.x_ch[t] + b.y_dis[t] <= 1)
    if params.end_soc_at_least_initial:
        block.end_soc = pyo.Constraint(expr=block.soc_kwh[t_list[-1]] >= soc0)
    return block
