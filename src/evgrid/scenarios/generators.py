"""Conditional scenario generators beside the GAN, all behind one interface (issue 18).

Every model is fitted on training units (``FamilyData`` + their day-ahead ``Conditions``) and draws, for a
batch of k queries (one per target day), ``n`` samples each: ``sample_many(query, n, rng) -> (k, n, d)`` in
physical units before the family's bounds (applied by the caller, the same for every model).

* ``AnalogSampler`` (analog / k-nearest-neighbour bootstrap): the ``k`` training days of the same day type
  (workday vs weekend-or-holiday) nearest to the query in the standardised day-ahead features, resampled
  uniformly with replacement (Delle Monache et al. 2013 analog ensembles).
* ``ConditionalCopulaSampler``: a Gaussian copula of (condition, profile). Each output column is mapped to
  normal scores through its empirical CDF, u = Phi^-1(rank / (n + 1)); (c, u) ~ N(mu, Sigma) with
  Ledoit-Wolf shrinkage; samples u | c ~ N(mu_u + S_uc S_cc^-1 (c - mu_c), S_uu - S_uc S_cc^-1 S_cu) are
  mapped back through the empirical quantiles.
* ``FlowSampler``: a conditional neural spline flow (zuko ``NSF``, Durkan et al. 2019), trained by maximum
  likelihood. Profiles are first scaled (``FamilyTransform``) and projected on their leading principal
  components (``max_dim``); the discarded components are added back as independent Gaussian noise with
  their training variance. EV families (1-2 outputs) are modelled directly in their representation
  (arrival, log duration; log(1 + km)).
* ``LabelBaseline``: the unconditional-on-day-ahead ``BootstrapSampler`` / ``GaussianSampler`` by
  calendar label (month, weekend), kept from the first version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtri
from scipy.stats import rankdata
from sklearn.covariance import ledoit_wolf
from tqdm.auto import tqdm

from evgrid.scenarios.baselines import BootstrapSampler, GaussianSampler
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.dayahead import Conditions
from evgrid.scenarios.transforms import FamilyTransform


@dataclass
class Query:
    """k target days: their raw day-ahead condition rows, day type, calendar label and month."""

    cond: np.ndarray  # (k, p)
    offday: np.ndarray  # (k,)
    labels: np.ndarray  # (k,) calendar label strings of the label baselines
    months: np.ndarray  # (k,)

    def __len__(self) -> int:
        return len(self.cond)


class CondScaler:
    """Standardise condition columns on the training rows (constant columns keep scale 1)."""

    def fit(self, c: np.ndarray) -> CondScaler:
        self.mean_ = c.mean(axis=0)
        sd = c.std(axis=0)
        self.sd_ = np.where(sd > 1e-12, sd, 1.0)
        return self

    def __call__(self, c: np.ndarray) -> np.ndarray:
        return ((np.asarray(c, float) - self.mean_) / self.sd_).astype(np.float32)


class AnalogSampler:
    """Analog ensemble: resample the k nearest training days of the same day type (standardised features)."""

    name = "analog"

    def __init__(self, k: int = 30) -> None:
        if k < 1:
            raise ValueError(f"analog k must be >= 1, got {k}")
        self.k = k

    def fit(self, data: FamilyData, cond: Conditions) -> AnalogSampler:
        self.values_ = data.values
        self.cols_ = cond.analog_columns
        self.scaler_ = CondScaler().fit(cond.values[:, self.cols_])
        self.z_ = self.scaler_(cond.values[:, self.cols_])
        self.offday_ = cond.offday
        return self

    def neighbours(self, cond_row: np.ndarray, offday: bool) -> np.ndarray:
        pool = np.flatnonzero(self.offday_ == offday)
        if len(pool) < self.k:
            pool = np.arange(len(self.z_))
        d = np.sum((self.z_[pool] - self.scaler_(cond_row[None, self.cols_])) ** 2, axis=1)
        return pool[np.argsort(d, kind="stable")[: self.k]]

    def sample_many(self, q: Query, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty((len(q), n, self.values_.shape[1]))
        for i in range(len(q)):
            nb = self.neighbours(q.cond[i], bool(q.offday[i]))
            out[i] = self.values_[rng.choice(nb, size=n, replace=True)]
        return out


class ConditionalCopulaSampler:
    """Gaussian copula of (standardised condition, normal scores of each output column)."""

    name = "copula"

    def __init__(self, transform: FamilyTransform) -> None:
        self.transform = transform

    def fit(self, data: FamilyData, cond: Conditions) -> ConditionalCopulaSampler:
        x = self.transform.transform(data.values).astype(np.float64)
        n = len(x)
        self.sorted_ = np.sort(x, axis=0)
        u = ndtri(rankdata(x, axis=0) / (n + 1.0))
        self.scaler_ = CondScaler().fit(cond.values)
        c = self.scaler_(cond.values).astype(np.float64)
        joint = np.column_stack([c, u])
        cov = ledoit_wolf(joint)[0]
        mu = joint.mean(axis=0)
        p = c.shape[1]
        s_cc, s_uc, s_uu = cov[:p, :p], cov[p:, :p], cov[p:, p:]
        self.mu_c_, self.mu_u_ = mu[:p], mu[p:]
        self.gain_ = s_uc @ np.linalg.pinv(s_cc)
        cond_cov = s_uu - self.gain_ @ s_uc.T
        cond_cov = 0.5 * (cond_cov + cond_cov.T)
        w, v = np.linalg.eigh(cond_cov)
        self.root_ = v * np.sqrt(np.clip(w, 0.0, None))
        return self

    def sample_many(self, q: Query, n: int, rng: np.random.Generator) -> np.ndarray:
        c = self.scaler_(q.cond).astype(np.float64)
        mean = self.mu_u_ + (c - self.mu_c_) @ self.gain_.T  # (k, d)
        k, d = mean.shape
        u = mean[:, None, :] + rng.standard_normal((k, n, d)) @ self.root_.T
        prob = np.clip(0.5 * (1.0 + _erf(u / np.sqrt(2.0))), 0.0, 1.0)
        m = len(self.sorted_)
        pos = prob * (m + 1.0) - 1.0  # inverse of rank / (n + 1), linear between order statistics
        lo = np.clip(np.floor(pos).astype(int), 0, m - 1)
        hi = np.clip(lo + 1, 0, m - 1)
        frac = np.clip(pos - lo, 0.0, 1.0)
        cols = np.arange(d)
        scaled = self.sorted_[lo, cols] * (1 - frac) + self.sorted_[hi, cols] * frac
        return self.transform.inverse(scaled.reshape(k * n, d)).reshape(k, n, -1)


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x)


@dataclass(frozen=True)
class FlowConfig:
    """Conditional neural spline flow settings (``gan.flow``, overridable per family)."""

    transforms: int = 3
    hidden: int = 64
    bins: int = 8
    max_dim: int = 24  # principal components kept for profiles
    iterations: int = 1500
    batch_size: int = 128
    learning_rate: float = 0.001

    @classmethod
    def from_params(cls, params: dict | None) -> FlowConfig:
        params = dict(params or {})
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown gan.flow parameters {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**params)


class FlowSampler:
    """Conditional NSF (zuko) on scaled outputs, after a PCA projection for high-dimensional profiles."""

    name = "flow"

    def __init__(self, transform: FamilyTransform, config: FlowConfig, seed: int) -> None:
        self.transform, self.config, self.seed = transform, config, seed

    def _build(self, features: int, context: int):
        import zuko

        cfg = self.config
        return zuko.flows.NSF(features=features, context=context, transforms=cfg.transforms, bins=cfg.bins,
                              hidden_features=(cfg.hidden, cfg.hidden))

    def __getstate__(self) -> dict:
        """Pickles as plain data: the flow's weights as numpy arrays (rebuilt on load)."""
        state = self.__dict__.copy()
        flow = state.pop("flow_", None)
        if flow is not None:
            state["flow_state_"] = {k: v.detach().cpu().numpy().copy() for k, v in flow.state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        weights = state.pop("flow_state_", None)
        self.__dict__.update(state)
        if weights is not None:
            self.flow_ = self._build(len(self.z_sd_), len(self.scaler_.mean_))
            self.flow_.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})
            self.flow_.eval()

    def fit(self, data: FamilyData, cond: Conditions, progress: bool = False, desc: str = "") -> FlowSampler:
        cfg = self.config
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        x = self.transform.transform(data.values).astype(np.float64)
        self.mean_ = x.mean(axis=0)
        xc = x - self.mean_
        d = x.shape[1]
        if d > cfg.max_dim:
            _, s, vt = np.linalg.svd(xc, full_matrices=False)
            self.basis_ = vt[: cfg.max_dim].T  # (d, r)
            resid = xc - (xc @ self.basis_) @ self.basis_.T
            self.resid_sd_ = resid.std(axis=0)
        else:
            self.basis_ = np.eye(d)
            self.resid_sd_ = np.zeros(d)
        z = xc @ self.basis_
        self.z_sd_ = np.where(z.std(axis=0) > 1e-12, z.std(axis=0), 1.0)
        z_t = torch.as_tensor(z / self.z_sd_, dtype=torch.float32)
        self.scaler_ = CondScaler().fit(cond.values)
        c_t = torch.as_tensor(self.scaler_(cond.values))
        self.flow_ = self._build(z_t.shape[1], c_t.shape[1])
        opt = torch.optim.Adam(self.flow_.parameters(), lr=cfg.learning_rate)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iterations)
        n = len(z_t)
        bs = min(cfg.batch_size, n)
        t0 = time.perf_counter()
        self.history = {"iteration": [], "nll": []}
        acc = 0.0
        # a bar only on a terminal (disable=None: off when stderr is not a TTY)
        bar = tqdm(range(cfg.iterations), desc=" ".join(filter(None, (data.family, desc, "flow"))),
                   disable=None if progress else True, mininterval=1.0, leave=False)
        for it in bar:
            idx = torch.randint(0, n, (bs,), generator=gen)
            loss = -self.flow_(c_t[idx]).log_prob(z_t[idx]).mean()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{data.family} flow: non-finite likelihood at iteration {it}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.flow_.parameters(), 5.0)
            opt.step()
            sched.step()
            acc += loss.item()
            if (it + 1) % 50 == 0 or it == cfg.iterations - 1:
                self.history["iteration"].append(it + 1)
                self.history["nll"].append(acc / (50 if (it + 1) % 50 == 0 else (it + 1) % 50))
                acc = 0.0
        self.train_seconds = time.perf_counter() - t0
        self.flow_.eval()
        return self

    def sample_many(self, q: Query, n: int, rng: np.random.Generator) -> np.ndarray:
        torch.manual_seed(int(rng.integers(0, 2**31 - 1)))
        c = torch.as_tensor(self.scaler_(q.cond))
        with torch.no_grad():
            z = self.flow_(c).sample((n,)).numpy().astype(np.float64)  # (n, k, r)
        z = np.clip(np.transpose(z, (1, 0, 2)), -8.0, 8.0) * self.z_sd_  # guard against rare spline tails
        x = self.mean_ + z @ self.basis_.T
        x = x + rng.standard_normal(x.shape) * self.resid_sd_
        k, _, d = x.shape
        return self.transform.inverse(x.reshape(k * n, d)).reshape(k, n, -1)


class LabelBaseline:
    """Bootstrap or Gaussian by calendar label (month, weekend): the first version's baselines."""

    def __init__(self, kind: str, min_units: int) -> None:
        self.name = kind
        self.inner = BootstrapSampler(1) if kind == "bootstrap" else GaussianSampler(min_units)

    def fit(self, data: FamilyData, labels: np.ndarray) -> LabelBaseline:
        self.inner.fit(data.values, labels)
        return self

    def sample_many(self, q: Query, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([self.inner.sample(lab, n, rng) for lab in q.labels])
