"""Draw scenarios for a calendar label from a fitted model and lay them out in the architecture schema.

Profile families: long table ``scenario_id, step, variable, value, unit, label`` (PV adds the derived
``pv_kw_per_kwp`` of each generated weather day, computed through pvlib at the mid-month date).
``ev_times``: ``scenario_id, arrival_h, departure_h, label``; ``ev_distance``: ``scenario_id,
distance_km, label``. Scenarios are equally probable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evgrid.scenarios.calendar import decode_label, label_strings
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.dayahead import Conditions
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.families import derived_variables, variable_units


def sample_label(model, data: FamilyData, label: str, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` scenarios of ``label`` as {variable: (n, n_steps)} in physical units, bounds enforced."""
    model.check_label(label)
    if n < 1:
        raise ValueError(f"family {data.family!r}: n_scenarios must be >= 1, got {n}")
    values = model.sample(label, n, np.random.default_rng(seed))
    month, _ = decode_label(label)
    months = np.full(n, month if month is not None else 6)
    out = {v.name: values[:, s] for v, s in zip(data.variables, data.slices().values(), strict=True)}
    out.update(derived_variables(data, values, months, None))
    return out


def scenarios_frame(samples: dict[str, np.ndarray], data: FamilyData, label: str) -> pd.DataFrame:
    """The ``<family>.scenarios`` table for samples from ``sample_label``."""
    n = next(iter(samples.values())).shape[0]
    ids = np.arange(n)
    if data.kind == "scalar":
        df = pd.DataFrame({"scenario_id": ids, **{k: v[:, 0] for k, v in samples.items()}})
        df["label"] = label
        return df
    units = variable_units(data)
    frames = []
    for name, arr in samples.items():
        n_steps = arr.shape[1]
        frames.append(pd.DataFrame({
            "scenario_id": np.repeat(ids, n_steps),
            "step": np.tile(np.arange(n_steps), n),
            "variable": name,
            "value": arr.ravel(),
            "unit": units[name],
        }))
    df = pd.concat(frames, ignore_index=True)
    df["label"] = label
    return df


@dataclass
class ScenarioBundle:
    """Every generator of a family fitted on its training days, and which one feeds the studies.

    ``sample(label, n, rng)`` draws from the selected generator for a calendar label at its *typical*
    day-ahead condition: the median of each previous-day feature over the training days with that label,
    the season of the 15th of the month, Wednesday (workday) or Saturday (weekend), no holiday.
    """

    family: str
    fitted: object  # holdout.FittedSet
    selected: str
    train_data: FamilyData
    train_cond: Conditions
    label_counts: dict = field(default_factory=dict)

    def check_label(self, label: str) -> None:
        if label not in self.label_counts:
            raise ScenarioDataError(
                f"family {self.family!r}: no training data for calendar label {label!r}; labels with data: "
                f"{sorted(self.label_counts)}")

    def typical_query(self, label: str):
        from evgrid.scenarios.generators import Query

        self.check_label(label)
        month, weekend = decode_label(label)
        labels = label_strings(self.train_data.months, self.train_data.is_weekend, self.fitted.label_cfg)
        rows = self.train_cond.values[labels == label]
        day = pd.Timestamp(2015, month or 7, 15)
        dow = 5 if weekend else 2
        ang = 2 * np.pi * day.dayofyear / 365.25
        vec = []
        for j, name in enumerate(self.train_cond.names):
            if name.startswith("prev_"):
                vec.append(float(np.median(rows[:, j])))
            elif name == "season_sin":
                vec.append(np.sin(ang))
            elif name == "season_cos":
                vec.append(np.cos(ang))
            elif name.startswith("dow_"):
                vec.append(float(int(name[4:]) == dow))
            else:  # holiday
                vec.append(0.0)
        return Query(np.array([vec]), np.array([bool(weekend)]), np.array([label], dtype=object),
                     np.array([month or 7]))

    def sample(self, label: str, n: int, rng: np.random.Generator) -> np.ndarray:
        from evgrid.scenarios.holdout import draw

        return draw(self.fitted, self.selected, self.typical_query(label), n, rng)[0]
