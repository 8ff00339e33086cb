"""Scenario generators as MLflow models (issue 16): a pyfunc sampler, the torch net, the model registry.

Every family's *selected* generator (the one that made ``<family>.scenarios``) and, when another one was
selected, its conditional GAN are logged as MLflow models and registered as ``evgrid-<family>`` (selected)
and ``evgrid-<family>-gan``. One model directory carries

* the ``python_function`` flavour: :class:`ScenarioSampler`, an ``mlflow.pyfunc.PythonModel`` whose input
  is a table of requests (the calendar condition + the number of scenarios) and whose output is the
  scenarios in the long format of ``<family>.scenarios`` plus a ``request`` column (row of the input);
* the ``pytorch`` flavour for the torch generators, so ``mlflow.pytorch.load_model(uri)`` returns the bare
  net: the GAN's ``Generator(z, c)`` as a ``torch.export`` graph (``pt2``, no pickle; its input sizes are in
  the model's metadata ``pytorch_inputs``), the flow's zuko ``NSF`` pickled (``torch.export`` cannot trace
  a module whose output is a distribution; the sampler's own artifact is a pickle anyway, see below);
* a signature and an input example.

The sampler is logged *from code* (``python_model`` is the file ``mlflow_sampler.py``, which MLflow runs at
load time); its ``predict`` is typed (``pd.DataFrame`` in and out) and the signature, with its optional
columns, is given explicitly. Its artifact ``bundle`` (the fitted generators, their transforms and the
calendar record) is a pickle: load only models from a registry you trust.

Input columns (one row = one request; ``n_scenarios`` required, the rest optional):

* ``date`` (``YYYY-MM-DD``): the target day. Its calendar (season, day of week, holiday) is computed; its
  previous-day features (``prev_*``) come, in this order, from the row's own ``prev_*`` columns, from the
  record packaged with the model (the family's feature days: each day's summaries condition the next day,
  information an operator has the day before) or, for a day outside the record, from the median over the
  training days of the date's calendar label;
* ``month`` (1-12) and ``is_weekend``: without a date, the label's *typical* day (what
  ``<family>.scenarios`` is drawn from: median previous-day features, the 15th of the month, Wednesday or
  Saturday, no holiday). ``{month: 7, is_weekend: false, n_scenarios: 500, seed: 7}`` reproduces the
  ``<family>.scenarios`` of the run that registered the model exactly;
* ``seed``: default ``gan.sampling.seed`` + the row's position;
* ``prev_<...>``: the family's previous-day features (see ``signature()``), overriding the record.

Loading needs the ``evgrid`` package importable (the project's environment): the sampler and the pickled
generators are evgrid classes.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pytorch
import numpy as np
import pandas as pd

from evgrid.scenarios.calendar import decode_label, label_strings, requested_label
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.dayahead import DayAheadConfig, calendar_features, day_summaries
from evgrid.scenarios.families import derived_variables
from evgrid.scenarios.generators import Query
from evgrid.scenarios.sampling import ScenarioBundle, sample_label, scenarios_frame

log = logging.getLogger(__name__)

REQUEST_COLUMNS = ("date", "month", "is_weekend", "n_scenarios", "seed")
TORCH_NETS = {"gan": "generator", "flow": "flow_"}  # generator name -> attribute holding its torch module
SAMPLER_CODE = Path(__file__).with_name("mlflow_sampler.py")  # models-from-code entry of ScenarioSampler


def registered_name(family: str, generator: str, selected: str) -> str:
    """``evgrid-<family>`` for the generator that feeds the studies, ``evgrid-<family>-<generator>`` else."""
    return f"evgrid-{family}" if generator == selected else f"evgrid-{family}-{generator}"


def reduced_bundle(bundle: ScenarioBundle, generator: str) -> ScenarioBundle:
    """The bundle with only ``generator`` fitted (what one MLflow model carries)."""
    from evgrid.scenarios.holdout import FittedSet

    f = bundle.fitted
    if generator not in f.models:
        raise ValueError(f"family {bundle.family!r}: generator {generator!r} was not fitted; "
                         f"fitted: {sorted(f.models)}")
    one = FittedSet({generator: f.models[generator]}, f.transform, f.label_cfg,
                    {generator: f.seconds.get(generator, 0.0)})
    return ScenarioBundle(bundle.family, one, generator, bundle.train_data, bundle.train_cond,
                          dict(bundle.label_counts))


@dataclass
class ServingBundle:
    """A fitted generator with what it needs to condition a requested day (pickled as the model artifact)."""

    bundle: ScenarioBundle  # reduced to one generator
    record: pd.DataFrame  # day D -> the prev_* features it gives day D + 1 (``dayahead.day_summaries``)
    dayahead: DayAheadConfig
    default_seed: int

    @classmethod
    def build(cls, bundle: ScenarioBundle, generator: str, record_data: FamilyData, dayahead: DayAheadConfig,
              default_seed: int) -> ServingBundle:
        return cls(reduced_bundle(bundle, generator), day_summaries(record_data, dayahead), dayahead,
                   int(default_seed))

    @property
    def family(self) -> str:
        return self.bundle.family

    @property
    def prev_names(self) -> list[str]:
        return [n for n in self.bundle.train_cond.names if n.startswith("prev_")]

    def _label(self, month: int, weekend: bool) -> str:
        return str(label_strings(np.array([month]), np.array([weekend]), self.bundle.fitted.label_cfg)[0])

    def date_query(self, date: pd.Timestamp, overrides: dict[str, float]) -> Query:
        """The day-ahead condition of ``date`` (see the module docstring for where ``prev_*`` come from)."""
        b = self.bundle
        cal, cal_names, offday = calendar_features(np.array([date.to_datetime64()]), self.dayahead)
        label = self._label(date.month, date.dayofweek >= 5)
        b.check_label(label)
        prev_day = date - pd.Timedelta("1D")
        known = self.record.loc[prev_day] if prev_day in self.record.index else None
        labels = label_strings(b.train_data.months, b.train_data.is_weekend, b.fitted.label_cfg)
        typical = b.train_cond.values[labels == label]
        cal_pos = {n: j for j, n in enumerate(cal_names)}
        vec = []
        for j, name in enumerate(b.train_cond.names):
            if name in cal_pos:
                vec.append(float(cal[0, cal_pos[name]]))
            elif name in overrides:
                vec.append(float(overrides[name]))
            elif known is not None and name in known.index:
                vec.append(float(known[name]))
            else:
                vec.append(float(np.median(typical[:, j])))
        return Query(np.array([vec]), np.asarray(offday), np.array([label], dtype=object), np.array([date.month]))

    def _date_samples(self, date: pd.Timestamp, overrides: dict, n: int, seed: int) -> tuple[dict, str]:
        from evgrid.scenarios.holdout import draw

        q = self.date_query(date, overrides)
        values = draw(self.bundle.fitted, self.bundle.selected, q, n, np.random.default_rng(seed))[0]
        data = self.bundle.train_data
        out = {v.name: values[:, s] for v, s in zip(data.variables, data.slices().values(), strict=True)}
        out.update(derived_variables(data, values, np.full(n, date.month),
                                     np.full(n, date.to_datetime64()).astype("datetime64[ns]")))
        return out, str(q.labels[0])

    def predict(self, requests: pd.DataFrame) -> pd.DataFrame:
        """Scenarios for each request row (module docstring), long format + ``request``."""
        if not isinstance(requests, pd.DataFrame):
            requests = pd.DataFrame(requests)
        if "n_scenarios" not in requests:
            raise ValueError(f"family {self.family!r}: input needs a column 'n_scenarios'")
        unknown = set(requests.columns) - set(REQUEST_COLUMNS) - set(self.prev_names)
        if unknown:
            raise ValueError(f"family {self.family!r}: unknown input columns {sorted(unknown)}; known: "
                             f"{list(REQUEST_COLUMNS) + self.prev_names}")
        data = self.bundle.train_data
        frames = []
        for i, (_, row) in enumerate(requests.reset_index(drop=True).iterrows()):
            def get(col, row=row):
                v = row.get(col)
                return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v

            n = int(get("n_scenarios") or 0)
            if n < 1:
                raise ValueError(f"family {self.family!r}: request {i}: n_scenarios must be >= 1, got {n}")
            seed = int(get("seed")) if get("seed") is not None else self.default_seed + i
            date = get("date")
            if date is not None:
                try:
                    day = pd.Timestamp(date).normalize()
                except (ValueError, TypeError) as err:
                    raise ValueError(f"family {self.family!r}: request {i}: date {date!r} is not a date") from err
                overrides = {k: float(get(k)) for k in self.prev_names if get(k) is not None}
                samples, label = self._date_samples(day, overrides, n, seed)
            else:
                if get("month") is None:
                    raise ValueError(f"family {self.family!r}: request {i} needs a 'date' or a 'month' "
                                     "(+ 'is_weekend')")
                wk = get("is_weekend")
                label = requested_label(int(get("month")), None if wk is None else bool(wk),
                                        self.bundle.fitted.label_cfg)
                samples = sample_label(self.bundle, data, label, n, seed)
            frames.append(scenarios_frame(samples, data, label).assign(request=i))
        out = pd.concat(frames, ignore_index=True)
        return out[["request"] + [c for c in out.columns if c != "request"]]

    def torch_net(self):
        """The generator's torch module (GAN generator, flow NSF), or None for the numpy generators."""
        attr = TORCH_NETS.get(self.bundle.selected)
        return None if attr is None else getattr(self.bundle.fitted.models[self.bundle.selected], attr)

    def input_example(self) -> pd.DataFrame:
        month, weekend = decode_label(sorted(self.bundle.label_counts)[0])
        return pd.DataFrame({"month": [int(month or 7)], "is_weekend": [bool(weekend)], "n_scenarios": [3],
                             "seed": [self.default_seed]})

    def signature(self):
        from mlflow.models import ModelSignature
        from mlflow.types import ColSpec, Schema

        inputs = [ColSpec("string", "date", required=False), ColSpec("long", "month", required=False),
                  ColSpec("boolean", "is_weekend", required=False), ColSpec("long", "n_scenarios"),
                  ColSpec("long", "seed", required=False)]
        inputs += [ColSpec("double", n, required=False) for n in self.prev_names]
        if self.bundle.train_data.kind == "profile":
            outputs = [ColSpec("long", "request"), ColSpec("long", "scenario_id"), ColSpec("long", "step"),
                       ColSpec("string", "variable"), ColSpec("double", "value"), ColSpec("string", "unit"),
                       ColSpec("string", "label")]
        else:
            outputs = [ColSpec("long", "request"), ColSpec("long", "scenario_id")]
            outputs += [ColSpec("double", v.name) for v in self.bundle.train_data.variables]
            outputs += [ColSpec("string", "label")]
        return ModelSignature(Schema(inputs), Schema(outputs))


class ScenarioSampler(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of a :class:`ServingBundle` (artifact ``bundle``: its pickle)."""

    def load_context(self, context) -> None:
        with open(context.artifacts["bundle"], "rb") as fh:
            self.serving: ServingBundle = pickle.load(fh)

    def predict(self, context: Any, model_input: pd.DataFrame,  # noqa: ARG002 - MLflow's signature
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.serving.predict(model_input)


def _requirements() -> list[str]:
    """Pinned requirements of the sampler (explicit: MLflow's inference would reload the model)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("mlflow", "torch", "zuko", "numpy", "pandas", "scipy", "scikit-learn", "pvlib", "cloudpickle"):
        try:
            out.append(f"{pkg}=={version(pkg)}")
        except PackageNotFoundError:
            continue
    return out


def _save_model(path, mlflow_model=None, serving: ServingBundle | None = None, **kwargs):
    """MLflow flavour hook: the pyfunc sampler (from code), plus the pytorch flavour when the generator is a
    torch net."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "bundle.pkl"
        pkl.write_bytes(pickle.dumps(serving, protocol=pickle.HIGHEST_PROTOCOL))
        net = serving.torch_net()
        metadata = _torch_inputs(net) if net is not None and serving.bundle.selected == "gan" else None
        mlflow.pyfunc.save_model(path, python_model=SAMPLER_CODE, artifacts={"bundle": str(pkl)},
                                 mlflow_model=mlflow_model, pip_requirements=_requirements(),
                                 metadata=metadata, **kwargs)
        if net is not None:
            _save_torch_flavour(net, metadata, Path(tmp) / "torch", path, mlflow_model)


def _torch_inputs(net) -> dict:
    """The GAN generator's input sizes (the ``pt2`` graph keeps no Python attributes)."""
    return {"pytorch_inputs": {"z": [-1, int(net.noise_dim)], "c": [-1, int(net.cond_dim)]},
            "pytorch_output": [-1, int(net.out_dim)]}


def _save_torch_flavour(net, metadata: dict | None, tmp: Path, path: Path, mlflow_model) -> None:
    """``path/pytorch``: the GAN generator exported (``pt2``, traced on a batch of 2; batch size dynamic), the
    flow pickled (module docstring)."""
    from mlflow.models import Model, ModelSignature
    from mlflow.types import Schema, TensorSpec

    if metadata is not None:
        f32 = np.dtype(np.float32)
        sizes = metadata["pytorch_inputs"]
        sig = ModelSignature(Schema([TensorSpec(f32, tuple(sizes[k]), k) for k in ("z", "c")]),
                             Schema([TensorSpec(f32, tuple(metadata["pytorch_output"]), "x")]))
        example = tuple(np.zeros((2, sizes[k][1]), dtype=np.float32) for k in ("z", "c"))
        mlflow.pytorch.save_model(net.eval(), tmp, pip_requirements=_requirements(), serialization_format="pt2",
                                  signature=sig, input_example=example)
    else:
        mlflow.pytorch.save_model(net, tmp, pip_requirements=_requirements(), serialization_format="pickle")
    shutil.copytree(tmp / "data", path / "pytorch")
    conf = dict(Model.load(str(tmp / "MLmodel")).flavors["pytorch"])
    mlflow_model.add_flavor("pytorch", **{**conf, "model_data": "pytorch", "code": None})
    mlflow_model.save(str(path / "MLmodel"))


_FLAVOR = types.SimpleNamespace(__name__="mlflow.pyfunc", save_model=_save_model)


def _register(client, name: str, model_id: str, tags: dict[str, str]):
    """A new version of registered model ``name`` from logged model ``model_id`` (what ``Model.log(...,
    registered_model_name=)`` does, through the client: the fluent call prints to stderr)."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    return client.create_model_version(name, source=f"models:/{model_id}", tags=tags, await_creation_for=30,
                                       model_id=model_id)


def log_generator(serving: ServingBundle, name: str, tags: dict | None = None) -> dict:
    """Log ``serving`` as an MLflow model in the active run and register it as ``name``; returns
    {registered_model, version, model_uri, model_id, generator, flavors}."""
    from mlflow.models import Model

    str_tags = {k: str(v) for k, v in (tags or {}).items()}
    info = Model.log(None, _FLAVOR, name=name, serving=serving, signature=serving.signature(),
                     input_example=serving.input_example(), tags=str_tags)
    client = mlflow.MlflowClient()
    version = str(_register(client, name, info.model_id, str_tags).version)
    for k, v in {"family": serving.family, "generator": serving.bundle.selected, **(tags or {})}.items():
        client.set_model_version_tag(name, version, k, str(v))
    client.update_registered_model(name, description=(
        f"evgrid scenario generator of family '{serving.family}' ({serving.bundle.selected}); pyfunc input: "
        "date or month/is_weekend, n_scenarios, optional seed and prev_* features; output: the long format "
        f"of {serving.family}.scenarios + request (docs/gan.md, MLflow models)."))
    log.info("family %s: %s logged and registered as %s version %s", serving.family, serving.bundle.selected,
             name, version)
    return {"registered_model": name, "version": version, "model_uri": f"models:/{name}/{version}",
            "model_id": info.model_id, "generator": serving.bundle.selected, "flavors": sorted(info.flavors)}


def register_family(bundle: ScenarioBundle, record_data: FamilyData, scenarios: pd.DataFrame,
                    dayahead: DayAheadConfig, sampling_seed: int, tags: dict | None = None) -> dict:
    """Log and register the selected generator (``evgrid-<family>``) and, when another one is selected, the
    GAN (``evgrid-<family>-gan``) in the active MLflow run; check that the registered sampler reproduces
    ``scenarios`` (same label, count and seed) and return which model version made them."""
    label = str(scenarios["label"].iloc[0])
    month, weekend = decode_label(label)
    request = pd.DataFrame({"month": [int(month or 7)], "is_weekend": [bool(weekend)],
                            "n_scenarios": [int(scenarios["scenario_id"].nunique())], "seed": [int(sampling_seed)]})
    if weekend is None:
        request = request.drop(columns="is_weekend")
    out: dict = {"family": bundle.family, "label": label, "n_scenarios": int(request["n_scenarios"][0]),
                 "seed": int(sampling_seed), "also_registered": []}
    generators = [bundle.selected] + (["gan"] if "gan" in bundle.fitted.models and bundle.selected != "gan" else [])
    for gen in generators:
        serving = ServingBundle.build(bundle, gen, record_data, dayahead, sampling_seed)
        name = registered_name(bundle.family, gen, bundle.selected)
        reg = log_generator(serving, name, {**(tags or {}), "selected": gen == bundle.selected})
        if gen == bundle.selected:
            again = serving.predict(request).drop(columns="request")
            reg["reproduces_scenarios"] = bool(again.equals(scenarios.reset_index(drop=True)))
            out.update(made_by=reg)
            mlflow.set_tags({"scenarios.model_uri": reg["model_uri"], "scenarios.generator": gen})
        else:
            out["also_registered"].append(reg)
    return out
