"""Technically optimal but meaningless results: detect, warn, flag, and keep them out of comparisons.

A solver reports "optimal" for a model whose only feasible answer is to shed every load, or whose supply
is all zero; a comparison table then shows "reductions" between such cases. A study calls
:func:`flag_result` per case with the quantities it has; the returned :class:`ResultFlags` warns once
(logging + ``warnings``), goes into the output tables (``flags`` column via :meth:`ResultFlags.text`), and
into the MLflow run (:meth:`ResultFlags.log_to_mlflow`: tag ``evgrid.flags.<case>`` and metric
``flagged.<case>`` = 1). :func:`reduction_pct` returns NaN (not a number that looks like a result) when
either side is flagged.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


_RAISED: list[str] = []  # flags raised in this process since the last drain (the run hook records them)


def drain_raised() -> list[str]:
    """Flags raised (``ResultFlags.warn``) since the last call; the project hook puts them in the manifest."""
    out = list(_RAISED)
    _RAISED.clear()
    return out


class MeaninglessResultWarning(UserWarning):
    """An optimal solution that answers no real question (e.g. all load shed, no supply)."""


@dataclass
class ResultFlags:
    case: str
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def text(self) -> str:
        """For a ``flags`` column: empty when the result is meaningful."""
        return "; ".join(self.reasons)

    def warn(self) -> ResultFlags:
        if self.reasons:
            msg = f"result '{self.case}' is optimal but meaningless: {self.text()}"
            _RAISED.append(f"{self.case}: {self.text()}")
            log.warning(msg)
            warnings.warn(msg, MeaninglessResultWarning, stacklevel=2)
        return self

    def log_to_mlflow(self) -> None:
        """Tag + metric on the active MLflow run (no-op without one)."""
        try:
            import mlflow
        except ImportError:  # pragma: no cover
            return
        if mlflow.active_run() is None:
            return
        key = "".join(c if c.isalnum() or c in "_-./ " else "_" for c in self.case)
        mlflow.log_metric(f"flagged.{key}", 1.0 if self.reasons else 0.0)
        if self.reasons:
            mlflow.set_tag(f"evgrid.flags.{key}", self.text()[:4900])


def flag_result(case: str, *, load_kwh: float | None = None, shed_kwh: float | None = None,
                max_shed_share: float = 0.05, supply_kw: Mapping[str, float] | None = None,
                supply_tol_kw: float = 1e-6, objective: float | None = None,
                warn: bool = True) -> ResultFlags:
    """Flags for one solved case.

    * shed share ``shed_kwh / load_kwh > max_shed_share`` (a parameter of the study): the "optimum" mostly
      buys unserved energy at its penalty price;
    * every source in ``supply_kw`` (name -> capacity or dispatched total) at or below ``supply_tol_kw``:
      nothing can serve the load;
    * a non-finite objective.
    """
    reasons: list[str] = []
    if load_kwh is not None and shed_kwh is not None:
        if load_kwh > 0:
            share = shed_kwh / load_kwh
            if share > max_shed_share:
                reasons.append(f"{100 * share:.1f} % of load shed ({shed_kwh:,.1f} of {load_kwh:,.1f} kWh; "
                               f"limit {100 * max_shed_share:g} %)")
        elif shed_kwh > 0:
            reasons.append(f"load shed ({shed_kwh:,.1f} kWh) with zero load")
    if supply_kw is not None and supply_kw and all(abs(v) <= supply_tol_kw for v in supply_kw.values()):
        reasons.append(f"all supply is zero ({', '.join(sorted(supply_kw))})")
    if objective is not None and not math.isfinite(objective):
        reasons.append(f"objective is {objective}")
    flags = ResultFlags(case, reasons)
    return flags.warn() if warn else flags


def reduction_pct(baseline: float, value: float, *flags: ResultFlags | str | bool) -> float:
    """``100 (baseline - value) / baseline``; NaN when any flag is set (a flagged case compares to nothing)
    or the baseline is zero."""
    if any(bool(f) for f in flags):
        return math.nan
    if baseline == 0 or not (math.isfinite(baseline) and math.isfinite(value)):
        return math.nan
    return 100.0 * (baseline - value) / baseline


# -- safety nets (issue 23) ------------------------------------------------------------------------------
SAFETY_NET_TAG = "evgrid.safety_net_fired"
"""MLflow tag set to ``true`` on a run in which a safety net fired; ``evgrid.safety_net.<what>`` says which."""


def safety_net_fired(what: str, detail: str) -> None:
    """Record that a safety net (a wall-clock limit, e.g. ``SolveResult.stopped_by_time_limit``) decided a result
    of this run: a WARNING, and tags on the active MLflow run (``evgrid.safety_net_fired=true``,
    ``evgrid.safety_net.<what>=detail``) that the end-of-run summary shows. Call it in the process that holds
    the run (a node, or the study code a node calls after collecting its tasks' results); no state is kept
    here, so a call inside a Dask worker records only the warning."""
    log.warning("safety net fired: %s: %s (this result depends on machine load)", what, detail)
    try:
        import mlflow

        if mlflow.active_run() is None:
            return
        key = "".join(c if c.isalnum() or c in "_-./" else "_" for c in what)[:200]
        mlflow.set_tag(SAFETY_NET_TAG, "true")
        mlflow.set_tag(f"evgrid.safety_net.{key}", str(detail)[:4900])
    except Exception as err:  # noqa: BLE001 - bookkeeping never fails a run
        log.warning("could not tag the MLflow run with the safety net: %s", err)


def fired_safety_nets(tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{what: detail}`` of the safety nets recorded on ``tags`` (default: the active MLflow run's)."""
    if tags is None:
        try:
            import mlflow

            run = mlflow.active_run()
            tags = mlflow.get_run(run.info.run_id).data.tags if run is not None else {}
        except Exception:  # noqa: BLE001 - no run, no store: nothing recorded
            tags = {}
    prefix = "evgrid.safety_net."
    return {k[len(prefix):]: v for k, v in sorted(tags.items()) if k.startswith(prefix)}
