"""DreamerV3's building blocks in flax.linen: its initialiser, RMSNorm, SiLU, block-diagonal linear
layers, 'same' convolutions, MLP stacks.

Weights start truncated-normal within 2 std, scaled to unit variance over the fan-in (DreamerV3's
`trunc_normal_in`; flax's variance_scaling gives the same 1.1368 / sqrt(fan_in) factor), times an
`outscale` (0 starts a head at exactly zero); biases start at 0. A block-linear kernel [G, I/G, O/G]
takes its fan-in over all I inputs, as DreamerV3's. Norms are RMSNorm with a learned scale, eps 1e-4.
gcrl computes in float32; DreamerV3 computes in bfloat16 on accelerators.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def trunc_normal_in(outscale: float = 1.0):
    if outscale == 0.0:
        return nn.initializers.zeros
    return nn.initializers.variance_scaling(outscale**2, "fan_in", "truncated_normal")


def jit_init(init):
    """`init` jitted, with XLA's backend optimisations off on CPU: an initialiser draws one random
    array per weight, each a threefry program that XLA CPU takes ~0.5 s to optimise, and init runs
    once."""
    options = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
    compiled = jax.jit(init, compiler_options=options)

    def run(*args):
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(args))
        return init(*args) if traced else compiled(*args)  # inside another jit: XLA options are its own

    return run


def dense(units: int, outscale: float = 1.0, name: str | None = None) -> nn.Dense:
    return nn.Dense(units, kernel_init=trunc_normal_in(outscale), name=name)


def norm(name: str | None = None) -> nn.RMSNorm:
    return nn.RMSNorm(epsilon=1e-4, name=name)


class BlockLinear(nn.Module):
    """y[g] = x[g] W[g] + b: G independent dense maps over equal slices of x and of y."""

    units: int
    blocks: int

    @nn.compact
    def __call__(self, x):
        size = x.shape[-1]
        kernel = self.param("kernel", trunc_normal_in(), (self.blocks, size // self.blocks, self.units // self.blocks))
        bias = self.param("bias", nn.initializers.zeros, (self.units,))
        x = x.reshape((*x.shape[:-1], self.blocks, size // self.blocks))
        y = jnp.einsum("...gi,gio->...go", x, kernel)
        return y.reshape((*y.shape[:-2], self.units)) + bias


class Conv(nn.Module):
    """A stride-1 'same' convolution with DreamerV3's initialiser (fan-in = kernel area x channels)."""

    depth: int
    kernel: int = 5
    outscale: float = 1.0

    @nn.compact
    def __call__(self, x):
        return nn.Conv(self.depth, (self.kernel, self.kernel), padding="SAME", kernel_init=trunc_normal_in(self.outscale))(x)


class NormedLinear(nn.Module):
    """act(norm(dense(x))), DreamerV3's unit of every MLP."""

    units: int

    @nn.compact
    def __call__(self, x):
        return jax.nn.silu(norm()(dense(self.units)(x)))


class MLP(nn.Module):
    """`layers` NormedLinear layers of `units` each."""

    layers: int
    units: int

    @nn.compact
    def __call__(self, x):
        for _ in range(self.layers):
            x = NormedLinear(self.units)(x)
        return x
