"""Oil-immersed distribution transformer: losses, IEC 60076-7 hot-spot thermal model and loss of life.

Steady state (IEC 60076-7:2018, eq. 1-2 of section 8.2; ``K`` = load factor ``S / S_rated``)::

    dtheta_o(K) = dtheta_or * ((1 + R K^2) / (1 + R))^x          top-oil rise over ambient, R = P_LL / P_NLL
    dtheta_h(K) = H g_r * K^y                                    hot-spot rise over top oil
    theta_h     = theta_a + dtheta_o + dtheta_h

Transient, exponential-equation solution (section 8.2.2, eq. 5-8, exact for a load factor and an ambient
that are constant over each step)::

    dtheta_o(t)  -> dtheta_o(K)        with time constant k11 * tau_o
    dtheta_h1(t) -> k21 * H g_r K^y    with time constant k22 * tau_w
    dtheta_h2(t) -> (k21 - 1) H g_r K^y with time constant tau_o / k22
    dtheta_h = dtheta_h1 - dtheta_h2   (k21 = 1 for ONAN distribution transformers: one exponential)

Each component relaxes as ``x(t + dt) = x_ult + (x(t) - x_ult) exp(-dt / tau)``, which is the IEC
increasing-load and decreasing-load solution at once.

Ageing (section 6.3): relative ageing rate ``V = 2^((theta_h - 98) / 6)`` for non-thermally upgraded paper
(``V = exp(15000/(110+273) - 15000/(theta_h+273))`` for thermally upgraded paper), loss of life
``L = integral V dt`` (hours of normal life consumed); at ``theta_h = 98 C`` (resp. 110 C) one hour of
operation costs one hour of life.

Losses: ``P_loss = P_NLL + P_LL K^2`` (kW).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGEING_LAWS = ("non_upgraded", "upgraded")


@dataclass(frozen=True)
class TransformerThermal:
    """Ratings and IEC 60076-7 thermal constants of one transformer (temperatures in C / K, times in min)."""

    rated_kva: float
    no_load_loss_kw: float
    load_loss_kw: float
    dtheta_or_k: float = 55.0
    """Top-oil temperature rise at rated load (paper 004 Table II)."""
    hgr_k: float = 25.0
    """Hot-spot to top-oil gradient at rated load, H * g_r (Table II)."""
    oil_exponent: float = 1.0
    """x (Table II: n = 1)."""
    winding_exponent: float = 1.6
    """y (Table II: m = 1.6)."""
    tau_oil_min: float = 180.0
    tau_winding_min: float = 48.0
    k11: float = 1.0
    k21: float = 1.0
    k22: float = 2.0
    """IEC 60076-7 Table 5, ONAN distribution transformers."""
    ageing_law: str = "non_upgraded"

    def __post_init__(self) -> None:
        bad = []
        if not self.rated_kva > 0:
            bad.append(f"rated_kva must be > 0 (got {self.rated_kva})")
        if not self.no_load_loss_kw > 0:
            bad.append(f"no_load_loss_kw must be > 0 (got {self.no_load_loss_kw})")
        if not self.load_loss_kw >= 0:
            bad.append(f"load_loss_kw must be >= 0 (got {self.load_loss_kw})")
        for name in ("tau_oil_min", "tau_winding_min", "k11", "k22"):
            if not getattr(self, name) > 0:
                bad.append(f"{name} must be > 0 (got {getattr(self, name)})")
        if self.ageing_law not in AGEING_LAWS:
            bad.append(f"ageing_law must be one of {AGEING_LAWS} (got {self.ageing_law!r})")
        if bad:
            raise ValueError("TransformerThermal: " + "; ".join(bad))

    @property
    def loss_ratio(self) -> float:
        """R = load losses at rated current / no-load losses."""
        return self.load_loss_kw / self.no_load_loss_kw

    # ------------------------------------------------------------------ steady state
    def top_oil_rise_k(self, k) -> np.ndarray:
        k = np.asarray(k, float)
        r = self.loss_ratio
        return self.dtheta_or_k * ((1.0 + r * k**2) / (1.0 + r)) ** self.oil_exponent

    def hot_spot_gradient_k(self, k) -> np.ndarray:
        return self.hgr_k * np.abs(np.asarray(k, float)) ** self.winding_exponent

    def steady_hot_spot_c(self, k, ambient_c) -> np.ndarray:
        """Ultimate hot-spot temperature at constant load factor ``k`` and ambient (IEC eq. 1-2)."""
        return np.asarray(ambient_c, float) + self.top_oil_rise_k(k) + self.hot_spot_gradient_k(k)

    def max_load_factor(self, ambient_c: float, hot_spot_limit_c: float, k_cap: float) -> float:
        """Largest K <= k_cap whose steady hot spot stays <= the limit (bisection; 0 if even K=0 is too hot)."""
        if self.steady_hot_spot_c(0.0, ambient_c) > hot_spot_limit_c:
            return 0.0
        if self.steady_hot_spot_c(k_cap, ambient_c) <= hot_spot_limit_c:
            return float(k_cap)
        lo, hi = 0.0, float(k_cap)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if self.steady_hot_spot_c(mid, ambient_c) <= hot_spot_limit_c:
                lo = mid
            else:
                hi = mid
        return lo

    def losses_kw(self, k) -> np.ndarray:
        """P_NLL + P_LL K^2 (kW)."""
        return self.no_load_loss_kw + self.load_loss_kw * np.asarray(k, float) ** 2

    # ------------------------------------------------------------------ ageing
    def relative_ageing(self, hot_spot_c) -> np.ndarray:
        """V(theta_h): 1 at the reference hot spot (98 C non-upgraded / 110 C upgraded paper)."""
        th = np.asarray(hot_spot_c, float)
        if self.ageing_law == "non_upgraded":
            return 2.0 ** ((th - 98.0) / 6.0)
        return np.exp(15000.0 / (110.0 + 273.0) - 15000.0 / (th + 273.0))

    # ------------------------------------------------------------------ transient
    def simulate(self, k, ambient_c, step_min: float, substeps: int = 60, initial: str = "steady") -> ThermalResult:
        """Exact exponential solution for piecewise-constant ``k`` and ambient per step.

        ``initial='steady'``: the day starts in the steady state of the *last* step's load and ambient
        (a periodic day); ``'cold'``: at ambient. Ageing is integrated with ``substeps`` midpoint samples per
        step of the analytical temperatures.
        """
        k = np.asarray(k, float)
        amb = np.broadcast_to(np.asarray(ambient_c, float), k.shape)
        if k.ndim != 1:
            raise ValueError("k must be a 1-D series of load factors")
        if not step_min > 0 or substeps < 1:
            raise ValueError("step_min must be > 0 and substeps >= 1")
        tau_o = self.k11 * self.tau_oil_min
        tau_h1 = self.k22 * self.tau_winding_min
        tau_h2 = self.tau_oil_min / self.k22
        ult_o = self.top_oil_rise_k(k)
        g = self.hot_spot_gradient_k(k)
        ult_h1 = self.k21 * g
        ult_h2 = (self.k21 - 1.0) * g
        if initial == "steady":
            x_o, x_1, x_2 = ult_o[-1], ult_h1[-1], ult_h2[-1]
        elif initial == "cold":
            x_o = x_1 = x_2 = 0.0
        else:
            raise ValueError(f"initial must be 'steady' or 'cold', got {initial!r}")
        n = len(k)
        hs_end = np.empty(n)
        hs_max = np.empty(n)
        top_end = np.empty(n)
        ageing_h = np.empty(n)
        frac = (np.arange(substeps) + 0.5) / substeps * step_min  # midpoints (min)
        for i in range(n):
            e_o = np.exp(-frac / tau_o)
            e_1 = np.exp(-frac / tau_h1)
            e_2 = np.exp(-frac / tau_h2)
            o = ult_o[i] + (x_o - ult_o[i]) * e_o
            h = (ult_h1[i] + (x_1 - ult_h1[i]) * e_1) - (ult_h2[i] + (x_2 - ult_h2[i]) * e_2)
            hs = amb[i] + o + h
            ageing_h[i] = float(self.relative_ageing(hs).mean() * step_min / 60.0)
            x_o = ult_o[i] + (x_o - ult_o[i]) * np.exp(-step_min / tau_o)
            x_1 = ult_h1[i] + (x_1 - ult_h1[i]) * np.exp(-step_min / tau_h1)
            x_2 = ult_h2[i] + (x_2 - ult_h2[i]) * np.exp(-step_min / tau_h2)
            top_end[i] = amb[i] + x_o
            hs_end[i] = amb[i] + x_o + x_1 - x_2
            hs_max[i] = max(float(hs.max()), hs_end[i])
        return ThermalResult(hot_spot_end_c=hs_end, hot_spot_max_c=hs_max, top_oil_end_c=top_end,
                             loss_of_life_h=ageing_h, losses_kw=self.losses_kw(k))


@dataclass
class ThermalResult:
    """Per step: hot spot at the end and its maximum within the step, top oil, life consumed (h), losses."""

    hot_spot_end_c: np.ndarray
    hot_spot_max_c: np.ndarray
    top_oil_end_c: np.ndarray
    loss_of_life_h: np.ndarray
    losses_kw: np.ndarray

    @property
    def total_loss_of_life_h(self) -> float:
        return float(self.loss_of_life_h.sum())


def tangent_cuts(func, deriv, points) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and intercepts of the tangents of a convex 1-D function at ``points``: ``f(x) >= a_i x + b_i``."""
    pts = np.asarray(points, float)
    a = np.asarray(deriv(pts), float)
    b = np.asarray(func(pts), float) - a * pts
    return a, b


__all__ = ["TransformerThermal", "ThermalResult", "tangent_cuts", "AGEING_LAWS"]
