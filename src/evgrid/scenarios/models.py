"""Fully connected conditional GAN generator and discriminator (paper 004 section III-A, Fig. 3).

Both networks are plain multilayer perceptrons whose depth and width are parameters per family (the paper
stacks 2, 6 and 8 fully connected layers for weather, EV times and distance). The calendar condition
vector (one-hot month, weekend flag) is concatenated to the noise for the generator and to the sample for
the discriminator. Weights use Glorot (Xavier) uniform initialisation and zero biases, as the paper.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(n_in: int, n_out: int, n_layers: int, width: int, negative_slope: float) -> nn.Sequential:
    """``n_layers`` fully connected layers in total (hidden layers use LeakyReLU), linear output layer."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    layers: list[nn.Module] = []
    dim = n_in
    for _ in range(n_layers - 1):
        layers += [nn.Linear(dim, width), nn.LeakyReLU(negative_slope)]
        dim = width
    layers.append(nn.Linear(dim, n_out))
    net = nn.Sequential(*layers)
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return net


class Generator(nn.Module):
    """G(z, c) -> x in the scaled space [-1, 1]^d (tanh output)."""

    def __init__(self, noise_dim: int, cond_dim: int, out_dim: int, n_layers: int, width: int,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.cond_dim = cond_dim
        self.out_dim = out_dim
        self.net = _mlp(noise_dim + cond_dim, out_dim, n_layers, width, negative_slope)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, c], dim=1) if self.cond_dim else z
        return torch.tanh(self.net(h))


class Discriminator(nn.Module):
    """D(x, c) -> one logit (original GAN: probability = sigmoid(logit); WGAN-GP: critic value)."""

    def __init__(self, in_dim: int, cond_dim: int, n_layers: int, width: int,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.net = _mlp(in_dim + cond_dim, 1, n_layers, width, negative_slope)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, c], dim=1) if self.cond_dim else x
        return self.net(h).squeeze(1)
