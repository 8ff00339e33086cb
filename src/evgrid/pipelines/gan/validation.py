"""``validate_params`` for the gan pipeline: run by the project hook before any node (evgrid.hooks), so
``gan.sampling.n_scenarios: 0`` or a family the pipeline does not build fails before any training.
(Added by the reliability helper, issue 15; updated by the gan owner, issue 18, to the holdout/flow/
day-ahead parameters. Needs ``evgrid.runtime.validation`` from the reliability branch.)"""

from __future__ import annotations

from dataclasses import fields

from evgrid.runtime.validation import Problems
from evgrid.scenarios.dayahead import DayAheadConfig
from evgrid.scenarios.generators import FlowConfig
from evgrid.scenarios.holdout import HoldoutConfig
from evgrid.scenarios.pv import PVSystem
from evgrid.scenarios.training import TrainConfig

from .nodes import _settings
from .pipeline import FAMILIES

GAN_KEYS = {"seed", "torch_threads", "progress_bar", "scale_margin", "min_folds", "min_units_per_fold",
            "conditioning", "calendar_labels", "training", "holdout", "flow", "sampling", "families"}
FAMILY_KEYS = {"kind", "dataset", "variables", "night_variables", "representation", "scaling", "training",
               "holdout", "flow", "sampling", "pv_max_kw_per_kwp", "representative_year", "derive_pv", "sources",
               "filters", "min_km", "max_km"}
TRAIN_KEYS = {f.name for f in fields(TrainConfig)}
SAMPLING_KEYS = {"n_scenarios", "seed", "month", "is_weekend"}


def validate_params(params: dict) -> None:
    gan = params.get("gan") or {}
    p = Problems("gan")
    p.known_keys(gan, GAN_KEYS)
    p.check("conditioning", lambda: DayAheadConfig.from_params(gan.get("conditioning")))
    p.known_keys(gan.get("calendar_labels"), {"enabled", "month", "weekend"}, "calendar_labels")
    families = gan.get("families") or {}
    p.subset("families", families, FAMILIES, what="family")
    for fam in FAMILIES:
        if fam not in families:
            p.add(f"families.{fam}", "is required: the pipeline builds this family")
    for fam, fp in families.items():
        if fam not in FAMILIES or not p.known_keys(fp, FAMILY_KEYS, f"families.{fam}"):
            continue
        try:
            s = _settings(fp, gan)
        except (KeyError, TypeError) as err:
            p.add(f"families.{fam}", f"cannot merge with the common gan blocks: missing {err}")
            continue
        where = "sampling" if "sampling" not in fp else f"families.{fam}.sampling"
        p.known_keys(s["sampling"], SAMPLING_KEYS, where)
        p.in_range(f"{where}.n_scenarios", s["sampling"].get("n_scenarios"), lo=1, integer=True)
        p.in_range(f"{where}.month", s["sampling"].get("month"), lo=1, hi=12, integer=True)
        tw = "training" if "training" not in fp else f"families.{fam}.training"
        if p.known_keys(gan.get("training"), TRAIN_KEYS, "training") & p.known_keys(fp.get("training"),
                                                                                     TRAIN_KEYS, tw):
            p.check(tw, lambda s=s: TrainConfig.from_params(s["training"]))
        p.check("holdout" if "holdout" not in fp else f"families.{fam}.holdout",
                lambda s=s: HoldoutConfig.from_params(s["holdout"]))
        p.check("flow" if "flow" not in fp else f"families.{fam}.flow", lambda s=s: FlowConfig.from_params(s["flow"]))
    if "pv_system" in params:  # the shared block (conf/base/parameters_pv.yml; absent: Kedro names the input)
        pv = Problems("pv_system")
        pv.items = p.items
        PVSystem.check_params(params.get("pv_system"), pv)
    p.items[:] = list(dict.fromkeys(p.items))  # a common-block problem is seen once per family
    p.raise_if_any()
