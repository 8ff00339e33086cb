"""The DRO study's system (paper 000): feeder, charging lanes, conventional and renewable units, costs,
and the uncertain inputs at the model's steps (Kedro-free).

Units: powers kW, energies kWh, prices $/kWh inside the model ($/MWh in the inputs), ``step_h`` in hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evgrid.der.wind import hub_height_speed, log_law_speed, wind_power_pu
from evgrid.ev.lanes import LaneSet, annualised_cost_per_day, lane_demand_kw, lanes_from_params
from evgrid.grid.matpower import load_matpower_case
from evgrid.grid.network import Network
from evgrid.optim.lindistflow import LinDistFlowOptions, loads_from_profile
from evgrid.studies.dro.config import DroConfig, NetworkConfig
from evgrid.timeseries import block_mean


@dataclass
class CostParams:
    """Cost coefficients (see conf/base/parameters_dro.yml for sources and assumptions)."""

    lane_operation_usd_per_kwh: float = 0.05
    battery_degradation_usd_per_kwh: float = 0.02
    unserved_lane_usd_per_kwh: float = 0.10 / 0.18
    load_shedding_usd_per_kwh: float = 5.0
    redispatch_penalty_usd_per_kwh: float = 0.03
    renewable_share_target: float = 0.6
    renewable_shortfall_usd_per_kwh: float = 0.05
    lane_fixed_usd_per_day: float = 0.0
    lane_maintenance_usd_per_day: float = 0.0


@dataclass
class DroSystem:
    """Static system: feeder, lanes, units, base-load profile and costs."""

    network: Network
    lanes: LaneSet
    conventional: pd.DataFrame  # index unit: bus, p_max_kw, p_min_kw, fixed_usd_per_h, var_usd_per_kwh, co2_kg_per_kwh
    renewables: pd.DataFrame    # index unit: bus, kind ('pv' | 'wind'), p_max_kw, var_usd_per_kwh
    load_profile: np.ndarray    # (T,) multiplier of the case's (peak) bus loads
    step_h: float
    costs: CostParams = field(default_factory=CostParams)
    grid_options: LinDistFlowOptions = field(default_factory=LinDistFlowOptions)
    integer_commitment: bool = False

    @property
    def n_steps(self) -> int:
        return len(self.load_profile)

    def bus_load_kw(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(T x bus) active and reactive loads: the case's bus loads x ``load_profile``."""
        return loads_from_profile(self.network, self.load_profile)


@dataclass
class ScenarioData:
    """Uncertain inputs per support atom, at the model's steps."""

    lane_demand_kw: np.ndarray   # (S, L, T)
    pv_pu: np.ndarray            # (S, T) available PV per kWp
    wind_pu: np.ndarray          # (S, T) available wind per unit of rating
    price_usd_per_kwh: np.ndarray  # (S, T) substation energy price incl. carbon cost of imports

    def __post_init__(self) -> None:
        s, _, t = self.lane_demand_kw.shape
        for name in ("pv_pu", "wind_pu", "price_usd_per_kwh"):
            arr = getattr(self, name)
            if arr.shape != (s, t):
                raise ValueError(f"scenario array {name!r} has shape {arr.shape}, expected {(s, t)} "
                                 "(scenarios x steps, same as the lane demand)")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"scenario array {name!r} has non-finite values")
        if np.any(self.lane_demand_kw < 0) or np.any(self.pv_pu < 0) or np.any(self.wind_pu < 0):
            raise ValueError("lane demand and renewable availability must be >= 0")

    @property
    def n_scenarios(self) -> int:
        return self.lane_demand_kw.shape[0]

    def subset(self, idx) -> ScenarioData:
        idx = np.asarray(idx)
        return ScenarioData(self.lane_demand_kw[idx], self.pv_pu[idx], self.wind_pu[idx],
                            self.price_usd_per_kwh[idx])

    def concat(self, other: ScenarioData) -> ScenarioData:
        return ScenarioData(*(np.concatenate([a, b]) for a, b in zip(
            (self.lane_demand_kw, self.pv_pu, self.wind_pu, self.price_usd_per_kwh),
            (other.lane_demand_kw, other.pv_pu, other.wind_pu, other.price_usd_per_kwh), strict=True)))

    def mean(self, probabilities: np.ndarray | None = None) -> ScenarioData:
        p = np.full(self.n_scenarios, 1 / self.n_scenarios) if probabilities is None else np.asarray(probabilities)
        return ScenarioData(*(np.tensordot(p, a, axes=1)[None] for a in (
            self.lane_demand_kw, self.pv_pu, self.wind_pu, self.price_usd_per_kwh)))


@dataclass
class FirstStage:
    """A first-stage decision (the day-ahead schedule)."""

    commitment: np.ndarray  # (G, T)
    p_conv_kw: np.ndarray   # (G, T)
    alloc_kw: np.ndarray    # (L, T)

    def clipped(self, sysm: DroSystem) -> FirstStage:
        """Solver round-off projected back onto the limits: ``0 <= u <= 1`` (rounded if integer),
        ``p_min u <= pg <= p_max u``, ``0 <= alloc <= lane rating``."""
        conv = sysm.conventional
        u = np.clip(np.asarray(self.commitment, float), 0.0, 1.0)
        if sysm.integer_commitment:
            u = np.round(u)
        pg = np.clip(np.asarray(self.p_conv_kw, float), conv["p_min_kw"].to_numpy(float)[:, None] * u,
                     conv["p_max_kw"].to_numpy(float)[:, None] * u)
        alloc = np.clip(np.asarray(self.alloc_kw, float), 0.0, sysm.lanes.rating_kw[:, None])
        return FirstStage(u, pg, alloc)


def build_system(cfg: DroConfig, network: Network, lanes: LaneSet, load_profile: np.ndarray, step_h: float,
                 lane_fixed_usd_per_day: float = 0.0, lane_maintenance_usd_per_day: float = 0.0) -> DroSystem:
    """Assemble a :class:`DroSystem` from the config (the paper's fleet scaled by ``capacity_scale``).

    Conventional variable cost includes the carbon price: ``c_v + carbon_usd_per_kg * co2_kg_per_kwh``;
    the unserved lane energy is valued at the lost driver saving ``saving_usd_per_km / kwh_per_km``.
    """
    scale = float(cfg.capacity_scale)
    cp = cfg.conventional
    carbon = float(cfg.carbon_price_usd_per_t) / 1000.0  # $/kg
    conv = pd.DataFrame({"bus": list(cp.buses)})
    conv.index = [f"conv_{i + 1}" for i in range(len(conv))]
    conv["p_max_kw"] = float(cp.unit_mw_paper) * 1000.0 * scale
    conv["p_min_kw"] = conv["p_max_kw"] * float(cp.p_min_fraction)
    conv["fixed_usd_per_h"] = float(cp.fixed_cost_usd_per_h)
    conv["co2_kg_per_kwh"] = float(cp.co2_kg_per_kwh)
    conv["var_usd_per_kwh"] = float(cp.variable_cost_usd_per_kwh) + carbon * conv["co2_kg_per_kwh"]
    rp = cfg.renewables
    ren_rows = [{"bus": int(b), "kind": "pv", "p_max_kw": float(rp.pv_unit_mw_paper) * 1000.0 * scale}
                for b in rp.pv_buses]
    ren_rows += [{"bus": int(b), "kind": "wind", "p_max_kw": float(rp.wind_unit_mw_paper) * 1000.0 * scale}
                 for b in rp.wind_buses]
    ren = pd.DataFrame(ren_rows)
    ren.index = [f"{k}_{i + 1}" for i, k in enumerate(ren["kind"])]
    ren["var_usd_per_kwh"] = float(rp.variable_cost_usd_per_kwh)
    cost = cfg.costs
    costs = CostParams(
        lane_operation_usd_per_kwh=float(cost.lane_operation_usd_per_kwh),
        battery_degradation_usd_per_kwh=float(cost.battery_degradation_usd_per_kwh),
        unserved_lane_usd_per_kwh=float(cost.driver_saving_usd_per_km) / float(cfg.ev.consumption_kwh_per_km),
        load_shedding_usd_per_kwh=float(cost.load_shedding_usd_per_kwh),
        redispatch_penalty_usd_per_kwh=float(cp.redispatch_penalty_usd_per_kwh),
        renewable_share_target=float(cost.renewable_share_target),
        renewable_shortfall_usd_per_kwh=float(cost.renewable_shortfall_usd_per_kwh),
        lane_fixed_usd_per_day=lane_fixed_usd_per_day,
        lane_maintenance_usd_per_day=lane_maintenance_usd_per_day,
    )
    npar = cfg.network
    margin = float(npar.linearisation_margin_pu)
    opts = LinDistFlowOptions(thermal_sides=int(npar.thermal_sides), v_min_pu=float(npar.v_min_pu) + margin,
                              v_max_pu=float(npar.v_max_pu) - margin, import_limit_kw=npar.import_limit_kw)
    return DroSystem(network=network, lanes=lanes, conventional=conv, renewables=ren,
                     load_profile=np.asarray(load_profile, float), step_h=step_h, costs=costs,
                     grid_options=opts, integer_commitment=bool(cp.integer_commitment))


def drop_nonbinding_ratings(network: Network, p_bound_kw: pd.Series, q_bound_kvar: pd.Series,
                            thermal_sides: int) -> tuple[Network, list[int]]:
    """Remove thermal limits that no feasible operating point can reach (an exact model reduction).

    ``p_bound_kw[b]`` / ``q_bound_kvar[b]`` bound ``|net injection|`` at bus ``b`` over all steps and
    scenarios (max of withdrawal and generation). A radial branch carries at most the sum of the bounds
    of the buses downstream of it; where ``hypot(sum P, sum Q)`` stays below the polygon's inscribed radius
    ``rating * cos(pi / n)`` the limit can never bind, so it is dropped (rating set to NaN). Returns the
    reduced network and the ids of the branches whose limits are kept.
    """
    net = network.copy()
    if not thermal_sides:
        return net, []
    tree = net.tree()
    pb = p_bound_kw.reindex(net.bus_ids).fillna(0.0).abs()
    qb = q_bound_kvar.reindex(net.bus_ids).fillna(0.0).abs()
    down_p = Network.downstream_sum(tree, pb)
    down_q = Network.downstream_sum(tree, qb)
    kept = []
    shrink = np.cos(np.pi / thermal_sides)
    for bus, bid in tree["parent_branch"].items():
        if bid is None:
            continue
        rating = net.branches.at[bid, "rating_kva"]
        if pd.isna(rating):
            continue
        if np.hypot(down_p[bus], down_q[bus]) <= rating * shrink:
            net.branches.at[bid, "rating_kva"] = np.nan
        else:
            kept.append(int(bid))
    return net, sorted(kept)


def load_network(cfg: NetworkConfig) -> Network:
    """The feeder of ``dro.network`` with default ratings and its voltage band set to the study's (made once).

    The feeder's own limits become the model's, so the AC check tests the same band (e.g. 0.95-1.05 p.u.).
    """
    path = Path(cfg.case_path)
    if not path.exists():
        raise FileNotFoundError(f"parameter 'dro.network.case_path': feeder file {path} does not exist")
    net = load_matpower_case(path).with_ratings(default_kva=float(cfg.default_rating_kva))
    net.buses["v_min_pu"] = float(cfg.v_min_pu)
    net.buses["v_max_pu"] = float(cfg.v_max_pu)
    return net


def make_system(network: Network, cfg: DroConfig, load_profile: np.ndarray, step_minutes: int) -> DroSystem:
    """Feeder + lanes + fleet from the config; thermal limits that can never bind are dropped (exact).

    Lane cost per day: installation ``c_inst * km`` annualised over ``lifetime_years`` at ``discount_rate``;
    maintenance ``weight * fraction * capex / 365``.
    """
    lanes = lanes_from_params(list(cfg.lanes), known_buses=network.bus_ids)
    cost = cfg.costs
    capex = cost.installation_usd_per_km * float(lanes.length_km.sum())
    fixed = annualised_cost_per_day(capex, cost.discount_rate, cost.lifetime_years)
    maint = cost.maintenance_weight * cost.maintenance_fraction_per_year * capex / 365.0
    step_h = step_minutes * cfg.aggregate_steps / 60.0
    sysm = build_system(cfg, network, lanes, load_profile, step_h, fixed, maint)
    # bound on |net injection| per bus for the redundancy test of the thermal limits
    p_load, q_load = sysm.bus_load_kw()
    pb = p_load.max().copy()
    for bus, r in lanes.table.groupby("bus")["rating_kw"].sum().items():
        pb[bus] += r
    gen = pd.concat([sysm.conventional[["bus", "p_max_kw"]], sysm.renewables[["bus", "p_max_kw"]]])
    gen = gen.groupby("bus")["p_max_kw"].sum().reindex(pb.index).fillna(0.0)
    sysm.network, _ = drop_nonbinding_ratings(sysm.network, np.maximum(pb, gen), q_load.max(),
                                              cfg.network.thermal_sides)
    return sysm


def lane_traffic(flow_veh_per_h: np.ndarray, sysm: DroSystem, cfg: DroConfig) -> dict[str, np.ndarray]:
    """Lane flow, EVs on each lane and lane demand (kW) at the model steps from 96-step section flow."""
    ev = cfg.ev
    flow = block_mean(flow_veh_per_h, flow_veh_per_h.shape[-1] // cfg.aggregate_steps, "dro.aggregate_steps")
    return lane_demand_kw(flow, sysm.lanes, ev.ev_share, ev.max_rate_per_ev_kw, ev.capacity_veh_per_h,
                          ev.congestion_rho_free, ev.congestion_rho_max)


def wind_availability_pu(speed_m_per_s: np.ndarray, w) -> np.ndarray:
    """Available wind power per unit of rating from the measured wind speed (``dro.renewables.wind``).

    ``paper_band`` (default; paper 000 section 5: wind units available at 40-80 % of capacity, varying
    with the weather): ``a = a_min + (a_max - a_min) * clip((v - v_lo) / (v_hi - v_lo), 0, 1)`` with
    ``v_lo``/``v_hi`` the 5th/95th percentiles of the NSRDB speed on the training days. ``power_curve``:
    shear to hub height and a cut-in/rated/cut-out curve (the embedded 2 m NSRDB speeds never reach
    cut-in: zero wind, the run warns).
    """
    if w.model == "paper_band":
        x = np.clip((np.asarray(speed_m_per_s, float) - w.speed_low_m_per_s)
                    / (w.speed_high_m_per_s - w.speed_low_m_per_s), 0.0, 1.0)
        return w.band_min_pu + (w.band_max_pu - w.band_min_pu) * x
    if w.shear_model == "log":
        v_hub = log_law_speed(speed_m_per_s, w.ref_height_m, w.hub_height_m, w.roughness_length_m)
    else:
        v_hub = hub_height_speed(speed_m_per_s, w.ref_height_m, w.hub_height_m, w.shear_exponent)
    return wind_power_pu(v_hub, w.cut_in_m_per_s, w.rated_m_per_s, w.cut_out_m_per_s)


def to_model_data(channels: dict[str, np.ndarray], sysm: DroSystem, cfg: DroConfig
                  ) -> tuple[ScenarioData, dict[str, np.ndarray]]:
    """96-step channels -> model-step lane demand, PV / wind availability and price ($/kWh incl. carbon).

    Also returns the lane traffic (:func:`lane_traffic`) the demand came from.
    """
    n = channels["flow_veh_per_h"].shape[-1] // cfg.aggregate_steps
    traffic = lane_traffic(channels["flow_veh_per_h"], sysm, cfg)
    wind = block_mean(wind_availability_pu(channels["wind_speed_m_per_s"], cfg.renewables.wind), n)
    pv = block_mean(np.clip(channels["pv_kw_per_kwp"], 0.0, None), n)
    price = block_mean(channels["lbmp_usd_per_mwh"], n) / 1000.0 + cfg.import_carbon_usd_per_kwh
    return ScenarioData(traffic["demand_kw"], pv, wind, price), traffic


def feature_blocks(data: ScenarioData) -> dict[str, np.ndarray]:
    """Channels of the ground metric: total lane demand, PV, wind, price (each standardised later)."""
    return {"lane_demand_kw": data.lane_demand_kw.sum(axis=1), "pv_pu": data.pv_pu, "wind_pu": data.wind_pu,
            "price_usd_per_kwh": data.price_usd_per_kwh}
