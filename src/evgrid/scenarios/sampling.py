"""Draw scenarios for a calendar label from a fitted model and lay them out in the architecture schema.

Profile families: long table ``scenario_id, step, variable, value, unit, label`` (PV adds the derived
``pv_kw_per_kwp`` of each generated weather day, computed through pvlib at the mid-month date).
``ev_times``: ``scenario_id, arrival_h, departure_h, label``; ``ev_distance``: ``scenario_id,
distance_km, label``. Scenarios are equally probable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from evgrid.scenarios.calendar import decode_label
from evgrid.scenarios.data import FamilyData
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
