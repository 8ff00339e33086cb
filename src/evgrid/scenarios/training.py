"""Training loops: the paper's original GAN loss and WGAN-GP (Gulrajani et al. 2017).

Original GAN (paper 004 eqs. 1-3): the discriminator maximises log D(x) + log(1 - D(G(z))) and the
generator maximises log D(G(z)) (the non-saturating form of eq. 2), both with binary cross-entropy on
logits. WGAN-GP: the critic minimises E[D(G(z))] - E[D(x)] + lambda * E[(||grad D(x_hat)|| - 1)^2] with
``n_critic`` critic steps per generator step; the generator minimises -E[D(G(z))]. Adam at learning rate
0.001 (paper), mini-batches drawn with replacement, every random draw from one seeded torch generator.
Optionally (``ema_decay`` > 0) the returned generator is the exponential moving average of the generator
weights over the iterations (Yazici et al. 2019), which damps the oscillation of the final GAN iterate.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from evgrid.scenarios.models import Discriminator, Generator

LOSSES = ("gan", "wgan-gp")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one GAN (parameters ``gan.training`` merged with the family's overrides)."""

    loss: str = "gan"
    iterations: int = 2000
    batch_size: int = 64
    noise_dim: int = 32
    g_layers: int = 2
    g_width: int = 128
    d_layers: int = 2
    d_width: int = 128
    learning_rate: float = 0.001
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    n_critic: int = 1
    gp_lambda: float = 10.0
    log_every: int = 50
    ema_decay: float = 0.0  # > 0: sample from an exponential moving average of the generator weights

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.iterations < 1 or self.batch_size < 1 or self.n_critic < 1:
            raise ValueError("iterations, batch_size and n_critic must be >= 1")

    @classmethod
    def from_params(cls, params: dict) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown training parameters {sorted(unknown)}; known: {sorted(known)}")
        return cls(**params)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    generator: Generator
    history: dict[str, list[float]]  # iteration, d_loss, g_loss (averaged over each logging window)
    seconds: float
    iterations_per_s: float


def _gradient_penalty(disc: Discriminator, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor,
                      gen: torch.Generator) -> torch.Tensor:
    eps = torch.rand(real.shape[0], 1, generator=gen)
    x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    out = disc(x_hat, cond)
    grad = torch.autograd.grad(out.sum(), x_hat, create_graph=True)[0]
    return ((grad.norm(2, dim=1) - 1.0) ** 2).mean()


def train_gan(x: np.ndarray, cond: np.ndarray, config: TrainConfig, seed: int,
              progress: bool = True, desc: str = "GAN") -> TrainResult:
    """Train a conditional GAN on scaled data ``x`` (n, d) in [-1, 1] with condition vectors ``cond``."""
    x_t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    c_t = torch.as_tensor(np.asarray(cond, dtype=np.float32))
    if x_t.shape[0] != c_t.shape[0]:
        raise ValueError("x and cond must have the same number of rows")
    if not torch.isfinite(x_t).all():
        raise ValueError("training matrix contains NaN or infinite values")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n, d = x_t.shape
    G = Generator(config.noise_dim, c_t.shape[1], d, config.g_layers, config.g_width)
    D = Discriminator(d, c_t.shape[1], config.d_layers, config.d_width)
    betas = (config.adam_beta1, config.adam_beta2)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.learning_rate, betas=betas)
    ema = None
    if config.ema_decay > 0:
        ema = Generator(config.noise_dim, c_t.shape[1], d, config.g_layers, config.g_width)
        ema.load_state_dict(G.state_dict())
        ema_params = list(ema.parameters())
    bs = min(config.batch_size, n)
    ones, zeros = torch.ones(bs), torch.zeros(bs)
    hist: dict[str, list[float]] = {"iteration": [], "d_loss": [], "g_loss": []}
    acc_d = acc_g = 0.0
    n_acc = 0
    t0 = time.perf_counter()
    # disable=None: a bar only on a terminal (stderr a TTY); CI logs and redirected runs get none
    bar = tqdm(range(config.iterations), desc=desc, disable=None if progress else True, mininterval=1.0,
               leave=False)
    for it in bar:
        for _ in range(config.n_critic):
            idx = torch.randint(0, n, (bs,), generator=gen)
            real, c = x_t[idx], c_t[idx]
            z = torch.randn(bs, config.noise_dim, generator=gen)
            with torch.no_grad():
                fake = G(z, c)
            if config.loss == "gan":
                d_loss = (F.binary_cross_entropy_with_logits(D(real, c), ones)
                          + F.binary_cross_entropy_with_logits(D(fake, c), zeros))
            else:
                d_loss = (D(fake, c).mean() - D(real, c).mean()
                          + config.gp_lambda * _gradient_penalty(D, real, fake, c, gen))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        idx = torch.randint(0, n, (bs,), generator=gen)
        c = c_t[idx]
        z = torch.randn(bs, config.noise_dim, generator=gen)
        out = D(G(z, c), c)
        g_loss = F.binary_cross_entropy_with_logits(out, ones) if config.loss == "gan" else -out.mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, list(G.parameters()), 1.0 - config.ema_decay)
        dl, gl = d_loss.item(), g_loss.item()
        if not (np.isfinite(dl) and np.isfinite(gl)):
            raise FloatingPointError(f"{desc}: GAN loss became non-finite at iteration {it} (d={dl}, g={gl})")
        acc_d += dl
        acc_g += gl
        n_acc += 1
        if n_acc == config.log_every or it == config.iterations - 1:
            hist["iteration"].append(it + 1)
            hist["d_loss"].append(acc_d / n_acc)
            hist["g_loss"].append(acc_g / n_acc)
            bar.set_postfix(d_loss=f"{acc_d / n_acc:.3f}", g_loss=f"{acc_g / n_acc:.3f}", refresh=False)
            acc_d = acc_g = 0.0
            n_acc = 0
    bar.close()
    seconds = time.perf_counter() - t0
    if ema is not None:
        G = ema
    G.eval()
    return TrainResult(G, hist, seconds, config.iterations / max(seconds, 1e-9))


def generate(generator: Generator, cond: np.ndarray, seed: int, batch: int = 4096) -> np.ndarray:
    """Draw one sample per condition row (scaled space), reproducibly from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    c_t = torch.as_tensor(np.asarray(cond, dtype=np.float32))
    outs = []
    with torch.no_grad():
        for start in range(0, c_t.shape[0], batch):
            c = c_t[start:start + batch]
            z = torch.randn(c.shape[0], generator.noise_dim, generator=gen)
            outs.append(generator(z, c).numpy())
    if not outs:
        return np.zeros((0, generator.out_dim), dtype=np.float32)
    return np.concatenate(outs, axis=0)
