"""Fully connected conditional GAN generator and discriminator (paper 004 section III-A, Fig. 3).

Both networks are plain multilayer perceptrons whose depth and width are parameters per family (the paper
stacks 2, 6 and 8 fully connected layers for weather, EV times and distance). The calendar condition
vector (day-ahead features, ``dayahead.py``, standardised) is concatenated to the input of *every* layer
of both networks (generator and critic), so the condition can shape the spread and not only the first
layer's offset (issue 18). Weights use Glorot (Xavier) uniform initialisation and zero biases, as the paper.
"""

from __future__ import annotations

import torch
from torch import nn


class CondMLP(nn.Module):
    """``n_layers`` fully connected layers (LeakyReLU hidden), the condition concatenated to every layer's
    input: h_{l+1} = act(W_l [h_l, c] + b_l)."""

    def __init__(self, n_in: int, cond_dim: int, n_out: int, n_layers: int, width: int,
                 negative_slope: float) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        dims = [n_in] + [width] * (n_layers - 1)
        outs = [width] * (n_layers - 1) + [n_out]
        self.layers = nn.ModuleList(nn.Linear(d + cond_dim, o) for d, o in zip(dims, outs, strict=True))
        self.act = nn.LeakyReLU(negative_slope)
        self.cond_dim = cond_dim
        for module in self.layers:
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            h = layer(torch.cat([h, c], dim=1) if self.cond_dim else h)
            if i < len(self.layers) - 1:
                h = self.act(h)
        return h


class Generator(nn.Module):
    """G(z, c) -> x in the scaled space [-1, 1]^d (tanh output)."""

    def __init__(self, noise_dim: int, cond_dim: int, out_dim: int, n_layers: int, width: int,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.cond_dim = cond_dim
        self.out_dim = out_dim
        self.net = CondMLP(noise_dim, cond_dim, out_dim, n_layers, width, negative_slope)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z, c))


class Discriminator(nn.Module):
    """D(x, c) -> one logit (original GAN: probability = sigmoid(logit); WGAN-GP: critic value)."""

    def __init__(self, in_dim: int, cond_dim: int, n_layers: int, width: int,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.net = CondMLP(in_dim, cond_dim, 1, n_layers, width, negative_slope)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(x, c).squeeze(1)
