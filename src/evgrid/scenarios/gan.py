"""A fitted conditional GAN scenario model: transform + generator + day-ahead conditioning.

``GanScenarioModel.fit`` fits the scaling and the condition standardisation on the given (training) data
only and trains the generator; ``sample_many`` draws physical-unit samples (before bounds) for a batch of
day-ahead conditions (``generators.Query``). The model pickles (state dict + transform) for the Kedro
catalog and MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from evgrid.scenarios.calendar import ConditioningConfig, label_strings
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.dayahead import Conditions
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.generators import CondScaler, Query
from evgrid.scenarios.models import Generator
from evgrid.scenarios.training import TrainConfig, generate, train_gan
from evgrid.scenarios.transforms import FamilyTransform


@dataclass
class GanScenarioModel:
    family: str
    train_config: TrainConfig
    transform: FamilyTransform
    conditioning: ConditioningConfig
    seed: int
    generator_state: dict | None = None
    label_counts: dict[str, int] = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    cond_scaler: CondScaler | None = None
    cond_names: list = field(default_factory=list)
    train_seconds: float = 0.0
    iterations_per_s: float = 0.0
    _generator: Generator | None = field(default=None, repr=False)

    name = "gan"

    def fit(self, data: FamilyData, cond: Conditions, progress: bool = True,
            desc: str | None = None) -> GanScenarioModel:
        """Fit the transform and condition scaling on ``data`` and train the generator on it."""
        if self.transform.lo_ is None:
            self.transform.fit(data)
        x = self.transform.transform(data.values)
        self.cond_scaler = CondScaler().fit(cond.values)
        self.cond_names = list(cond.names)
        c = self.cond_scaler(cond.values)
        labels, counts = np.unique(label_strings(data.months, data.is_weekend, self.conditioning),
                                   return_counts=True)
        self.label_counts = {str(k): int(v) for k, v in zip(labels, counts, strict=True)}
        res = train_gan(x, c, self.train_config, self.seed, progress=progress, desc=desc or self.family)
        self._generator = res.generator
        self.generator_state = {k: v.detach().clone() for k, v in res.generator.state_dict().items()}
        self.history = res.history
        self.train_seconds = res.seconds
        self.iterations_per_s = res.iterations_per_s
        return self

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            if self.generator_state is None:
                raise RuntimeError(f"GAN model of family {self.family!r} is not fitted")
            cfg = self.train_config
            g = Generator(cfg.noise_dim, len(self.cond_names), self.transform.channel_of_col_.size,
                          cfg.g_layers, cfg.g_width)
            g.load_state_dict({k: torch.as_tensor(v) for k, v in self.generator_state.items()})
            g.eval()
            self._generator = g
        return self._generator

    def check_label(self, label: str) -> None:
        """Raise if the model saw no training unit with ``label``."""
        if label not in self.label_counts:
            raise ScenarioDataError(
                f"family {self.family!r}: no training data for calendar label {label!r}; labels with data: "
                f"{sorted(self.label_counts)}"
            )

    def sample_many(self, q: Query, n: int, rng: np.random.Generator) -> np.ndarray:
        """(k, n, d) physical-unit samples (before bounds) for the k day-ahead conditions of ``q``."""
        seed = int(rng.integers(0, 2**31 - 1))
        c = np.repeat(self.cond_scaler(q.cond), n, axis=0)
        scaled = generate(self.generator, c, seed)
        return self.transform.inverse(scaled).reshape(len(q), n, -1)

    def __getstate__(self) -> dict:
        """Pickles as plain data: the generator's weights as numpy arrays (the net is rebuilt on use)."""
        state = self.__dict__.copy()
        state["_generator"] = None
        if self.generator_state is not None:
            state["generator_state"] = {k: np.asarray(v.detach().cpu().numpy() if torch.is_tensor(v) else v).copy()
                                        for k, v in self.generator_state.items()}
        return state

    def torch_bundle(self) -> dict:
        """Everything needed to rebuild the generator without this package's classes but torch/numpy."""
        return {
            "family": self.family,
            "state_dict": {k: torch.as_tensor(v) for k, v in self.generator_state.items()},
            "train_config": self.train_config.to_dict(),
            "conditioning": {"names": self.cond_names, "mean": torch.as_tensor(self.cond_scaler.mean_),
                             "sd": torch.as_tensor(self.cond_scaler.sd_)},
            "scaler": {"representation": self.transform.representation,
                       "lo": torch.as_tensor(self.transform.lo_), "hi": torch.as_tensor(self.transform.hi_),
                       "channel_of_col": torch.as_tensor(self.transform.channel_of_col_)},
            "label_counts": self.label_counts,
        }
