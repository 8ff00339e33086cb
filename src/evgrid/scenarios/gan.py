"""A fitted conditional GAN scenario model: transform + generator + calendar conditioning.

``GanScenarioModel.fit`` fits the scaling on the given (training) data only, trains the generator, and
``sample`` draws physical-unit samples for a calendar label with the physical bounds enforced. The model
pickles (state dict + transform) for the Kedro catalog and MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from evgrid.scenarios.calendar import ConditioningConfig, decode_label, encode_condition, label_strings
from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.errors import ScenarioDataError
from evgrid.scenarios.models import Generator
from evgrid.scenarios.training import TrainConfig, generate, train_gan
from evgrid.scenarios.transforms import FamilyTransform


def label_condition(label: str, n: int, cond: ConditioningConfig) -> np.ndarray:
    """Condition matrix (n, cond.dim) for one label string."""
    month, weekend = decode_label(label)
    months = np.full(n, month if month is not None else 1)
    return encode_condition(months, np.full(n, bool(weekend)), cond)


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
    train_seconds: float = 0.0
    iterations_per_s: float = 0.0
    _generator: Generator | None = field(default=None, repr=False)

    name = "gan"

    def fit(self, data: FamilyData, progress: bool = True, desc: str | None = None) -> GanScenarioModel:
        """Fit the transform on ``data`` and train the generator on it."""
        self.transform.fit(data)
        x = self.transform.transform(data.values)
        c = encode_condition(data.months, data.is_weekend, self.conditioning)
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
            g = Generator(cfg.noise_dim, self.conditioning.dim, self.transform.channel_of_col_.size,
                          cfg.g_layers, cfg.g_width)
            g.load_state_dict(self.generator_state)
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

    def sample(self, label: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` physical-unit samples for ``label`` (bounds enforced), seeded from ``rng``."""
        seed = int(rng.integers(0, 2**31 - 1))
        scaled = generate(self.generator, label_condition(label, n, self.conditioning), seed)
        month, _ = decode_label(label)
        months = np.full(n, month if month is not None else 0)
        return self.transform.enforce_bounds(self.transform.inverse(scaled), months)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_generator"] = None
        return state

    def torch_bundle(self) -> dict:
        """Everything needed to rebuild the generator without this package's classes but torch/numpy."""
        return {
            "family": self.family,
            "state_dict": self.generator_state,
            "train_config": self.train_config.to_dict(),
            "conditioning": {"month": self.conditioning.month, "weekend": self.conditioning.weekend},
            "scaler": {"representation": self.transform.representation,
                       "lo": torch.as_tensor(self.transform.lo_), "hi": torch.as_tensor(self.transform.hi_),
                       "channel_of_col": torch.as_tensor(self.transform.channel_of_col_)},
            "label_counts": self.label_counts,
        }
