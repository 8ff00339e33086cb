"""Infeasibility diagnosis by an elastic (phase-1) copy of the model.

``elastic_copy(model) -> ElasticCopy`` clones the model, drops its objective, adds a
non-negative slack pair to every active constraint (``lb <= body + s_plus - s_minus <= ub``) and, for
continuous variables, turns finite bounds into soft constraints (family ``bound:<var name>``), then
minimises the weighted total slack. Limits (inequalities, variable bounds) have weight 1 and equalities
(physics and definitions: nodal balances, voltage drops) ``equality_weight`` (default 100), so the
diagnosis blames the limits that cannot all hold rather than the laws of physics; an equality slack only
appears when no combination of limits explains the conflict (e.g. an island with load and no source). Non-zero slacks identify the constraints that cannot all be met: the report
lists them by constraint family (full component name, e.g. ``grid.balance_p``), index and time step.
The time step is the last element of the constraint index when that value is one of the time steps
of a time Set -- a Pyomo ``Set`` named ``T`` on any block, as :func:`evgrid.optim.lindistflow.build_lindistflow`
declares (``block.T``) -- or given via ``time_index``. Slack units are those of the constraint (kW for balances, p.u.^2 for voltages), so the
ranking across families is indicative; the *set* of non-zero slacks is the diagnosis.

The copy is solved by :func:`evgrid.optim.solver.diagnose_infeasibility` (which :func:`~evgrid.optim.solver.solve`
calls on an infeasible model); this module builds and reads, never solves, so it imports no solver (no circle).

Example::

    from evgrid.optim.solver import diagnose_infeasibility
    rep = diagnose_infeasibility(m)
    rep.slacks                        # DataFrame: family, index, step, slack
    rep.by_family()                   # family -> n, steps, total slack
    print(rep.message())
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyomo.environ as pyo

TOL = 1e-6


@dataclass
class InfeasibilityReport:
    slacks: pd.DataFrame
    """One row per non-zero slack: ``family, index, step, slack``."""
    total_slack: float
    """Weighted objective of the elastic problem."""

    def by_family(self) -> pd.DataFrame:
        if self.slacks.empty:
            return pd.DataFrame(columns=["n", "steps", "total_slack"])
        g = self.slacks.groupby("family", sort=False)
        return pd.DataFrame(
            {
                "n": g.size(),
                "steps": g["step"].agg(lambda s: sorted({x for x in s if x is not None and x == x})),
                "total_slack": g["slack"].sum(),
            }
        ).sort_values("total_slack", ascending=False)

    @property
    def steps(self) -> list:
        return sorted({x for x in self.slacks["step"] if x is not None and x == x})

    def message(self, max_families: int = 6) -> str:
        if self.slacks.empty:
            return "Elastic re-solve found no violated constraint (numerical infeasibility?)"
        parts = []
        for fam, row in self.by_family().head(max_families).iterrows():
            steps = row["steps"]
            where = f"time steps {_compact(steps)}" if steps else "no time index"
            idx = self.slacks.loc[self.slacks["family"] == fam, "index"].head(4).tolist()
            parts.append(f"{fam}: {row['n']} constraint(s) at {where}, total slack {row['total_slack']:.4g} (e.g. {idx})")
        return "Cannot be met -> " + "; ".join(parts)


def _compact(steps: list) -> str:
    if not steps:
        return "[]"
    if all(isinstance(s, int) for s in steps):
        runs, start, prev = [], steps[0], steps[0]
        for s in steps[1:]:
            if s == prev + 1:
                prev = s
                continue
            runs.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = prev = s
        runs.append(f"{start}-{prev}" if prev != start else f"{start}")
        return "[" + ", ".join(runs) + "]"
    return str(steps[:10]) + (" ..." if len(steps) > 10 else "")


def _time_steps(model, time_index) -> set:
    steps = set(time_index or [])
    for blk in model.block_data_objects(active=True):
        t_set = blk.component("T")
        if isinstance(t_set, pyo.Set):
            steps.update(t_set)
    return steps


@dataclass
class ElasticCopy:
    """The elastic copy of a model (:func:`elastic_copy`) and what is needed to read its slacks back."""

    model: object
    """The clone: objective = weighted slack sum (``_el_obj``), slack pairs ``_el_sp/_el_sn`` per constraint,
    ``_el_bl/_el_bu`` per relaxed variable bound."""
    labels: list
    """``(constraint family, index)`` of each elastic constraint, in slack order."""
    bound_vars: list
    """``(variable of the clone, lb, ub)`` of each relaxed bound, in slack order."""
    steps: set
    """The time steps of the model (``step`` column of the report)."""

    def report(self, objective: float | None) -> InfeasibilityReport:
        """Non-zero slacks of the solved copy (one row each: family, index, time step, slack)."""
        m, rows = self.model, []

        def step_of(idx):
            last = idx[-1] if isinstance(idx, tuple) else idx
            return last if last in self.steps else None

        for i, (fam, idx) in enumerate(self.labels):
            s = pyo.value(m._el_sp[i]) + pyo.value(m._el_sn[i])
            if s > TOL:
                rows.append({"family": fam, "index": idx, "step": step_of(idx), "slack": s})
        for j, (v, _lb, _ub) in enumerate(self.bound_vars):
            s = pyo.value(m._el_bl[j]) + pyo.value(m._el_bu[j])
            if s > TOL:
                idx = v.index()
                rows.append({"family": f"bound:{v.parent_component().name}", "index": idx, "step": step_of(idx),
                             "slack": s})
        df = pd.DataFrame(rows, columns=["family", "index", "step", "slack"])
        return InfeasibilityReport(slacks=df, total_slack=float(objective or 0.0))


def elastic_copy(model, time_index=None, relax_bounds: bool = True, equality_weight: float = 100.0) -> ElasticCopy:
    """Clone ``model`` into its elastic (phase-1) form, see module docstring:
    ``min sum_i w_i (s+_i + s-_i) + sum_j (b^l_j + b^u_j)`` s.t. ``lb_i <= body_i + s+_i - s-_i <= ub_i`` and
    ``x_j + b^l_j >= lb_j``, ``x_j - b^u_j <= ub_j`` (``w_i = equality_weight`` for equalities, else 1).
    Solved by :func:`evgrid.optim.solver.diagnose_infeasibility` (this module never solves: no circle)."""
    steps = _time_steps(model, time_index)
    m = model.clone()
    for obj in m.component_data_objects(pyo.Objective, active=True):
        obj.deactivate()
    cons = list(m.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    n = len(cons)
    m._el_sp = pyo.Var(range(n), within=pyo.NonNegativeReals, initialize=0.0)
    m._el_sn = pyo.Var(range(n), within=pyo.NonNegativeReals, initialize=0.0)
    for i, c in enumerate(cons):
        c.set_value((c.lower, c.body + m._el_sp[i] - m._el_sn[i], c.upper))
    labels = [(c.parent_component().name, c.index()) for c in cons]
    bound_vars = _soften_bounds(m) if relax_bounds else []
    weight = [equality_weight if c.equality else 1.0 for c in cons]
    total = sum(weight[i] * (m._el_sp[i] + m._el_sn[i]) for i in range(n))
    if bound_vars:
        total = total + sum(m._el_bl[j] + m._el_bu[j] for j in range(len(bound_vars)))
    m._el_obj = pyo.Objective(expr=total, sense=pyo.minimize)
    return ElasticCopy(model=m, labels=labels, bound_vars=bound_vars, steps=steps)


def _soften_bounds(m) -> list:
    """Finite bounds of continuous unfixed variables become constraints with slacks ``_el_bl/_el_bu``."""
    bound_vars = []
    for v in m.component_data_objects(pyo.Var, active=True, descend_into=True):
        if v.fixed or v.is_integer() or v.is_binary() or v.parent_component().name.startswith("_el_"):
            continue
        lb, ub = v.lb, v.ub
        if lb is None and ub is None:
            continue
        bound_vars.append((v, lb, ub))
    nb = len(bound_vars)
    m._el_bl = pyo.Var(range(nb), within=pyo.NonNegativeReals, initialize=0.0)
    m._el_bu = pyo.Var(range(nb), within=pyo.NonNegativeReals, initialize=0.0)
    m._el_bcon = pyo.ConstraintList()
    for j, (v, lb, ub) in enumerate(bound_vars):
        v.setlb(None)
        v.setub(None)
        if v.domain is pyo.NonNegativeReals or v.domain is pyo.NonPositiveReals:
            v.domain = pyo.Reals
        if lb is not None:
            m._el_bcon.add(v + m._el_bl[j] >= lb)
        if ub is not None:
            m._el_bcon.add(v - m._el_bu[j] <= ub)
    return bound_vars
