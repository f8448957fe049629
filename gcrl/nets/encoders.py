"""Pixel encoders. `impala_small`: the IMPALA ResNet with one residual block per stack, as used for
OGBench's visual tasks (stacks of 16, 32, 32 channels, then a 512-unit layer)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gcrl.nets.layers import default_init


class ResidualBlock(nn.Module):
    channels: int

    @nn.compact
    def __call__(self, x):
        y = nn.relu(x)
        y = nn.Conv(self.channels, (3, 3), kernel_init=default_init)(y)
        y = nn.relu(y)
        y = nn.Conv(self.channels, (3, 3), kernel_init=default_init)(y)
        return x + y


class ImpalaEncoder(nn.Module):
    stack_channels: Sequence[int] = (16, 32, 32)
    blocks_per_stack: int = 1
    out_features: int = 512
    layer_norm: bool = True

    @nn.compact
    def __call__(self, images):
        x = images.astype(jnp.float32) / 255.0
        for channels in self.stack_channels:
            x = nn.Conv(channels, (3, 3), kernel_init=default_init)(x)
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
            for _ in range(self.blocks_per_stack):
                x = ResidualBlock(channels)(x)
        x = nn.relu(x)
        if self.layer_norm:
            x = nn.LayerNorm()(x)
        x = x.reshape(*x.shape[:-3], -1)
        return nn.gelu(nn.Dense(self.out_features, kernel_init=default_init)(x))


ENCODERS = {"impala_small": ImpalaEncoder}
