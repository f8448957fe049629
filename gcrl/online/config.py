"""Sizes and settings of the online world-model agent, with two presets.

Every default is DreamerV3's (danijar/dreamerv3, dreamerv3/configs.yaml at commit e3f0224; its agent
and RSSM unchanged since f8817c4, December 2024), except where a comment says otherwise.

Presets:
  'paper': DreamerV3's `size12m` (its smallest image preset above size1m): deter 2048, hidden 256,
           32 x 16 stochastic latent, CNN depth 16, MLP units 256. (32 x 32 latents first appear at
           `size50m`: deter 4096, hidden 512, depth 32, units 512; pass those as overrides.)
  'cpu':   meant for 2 CPU cores: deter 128 in 4 GRU blocks, hidden 64, 8 x 8 latent, CNN depth 8
           (mults 2, 4, 4, 4: two stages at 16 x 16, four at 64 x 64), units 64; learning rate 1e-3 after 100 warm-up updates
           (DreamerV3's 4e-5 after 1,000 is for its size and budget: a 12K-update run would spend a
           twelfth of itself warming up, and moved too little in our probes). Every loss setting as
           'paper'. (A whole update on DreamerV3's batch of 16 x 64 steps of 64 x 64 images takes
           ~45 s on 2 busy cores: the images' CNN dominates, so train on fewer, smaller frames there.)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from gcrl.errors import GcrlError


@dataclass(frozen=True)
class Config:
    # RSSM
    deter: int = 2048  # deterministic (GRU) state size
    hidden: int = 256  # width of the layers around the GRU and of the prior/posterior MLPs
    stoch: int = 32  # categorical latents ...
    classes: int = 16  # ... of this many classes each
    blocks: int = 8  # the GRU is block-diagonal over this many groups of the deterministic state
    dyn_layers: int = 1
    img_layers: int = 2  # prior MLP
    obs_layers: int = 1  # posterior MLP
    unimix: float = 0.01
    free_nats: float = 1.0
    # The task vector enters the GRU as one more input branch (beside action, stoch and deter), so
    # prior, posterior and decoder see it; the reward, continue, actor and critic heads read it
    # beside the model state. Off: only the heads read it. (Not DreamerV3, which has no task input.)
    task_in_dynamics: bool = True
    # Image encoder and decoder
    depth: int = 16
    mults: tuple[int, ...] = (2, 3, 4, 4)  # channels depth * mult per stage; each stage halves the image
    kernel: int = 5
    min_res: int = 4  # stages run until the image is this small (4 x 4 from 64 x 64 takes 4 stages)
    dec_blocks: int = 8  # DreamerV3's `bspace`: the decoder's block-linear projection of deter
    # MLP heads
    units: int = 256
    reward_layers: int = 1
    cont_layers: int = 1
    actor_layers: int = 3
    critic_layers: int = 3
    bins: int = 255
    actor_min_std: float = 0.1
    actor_max_std: float = 1.0
    # DreamerV3's configs.yaml sets the policy's unimix to 0.01 and the paper mixes 1% into the
    # discrete actor; its code's categorical policy head drops it. gcrl applies it.
    actor_unimix: float = 0.01
    # World-model loss scales. dyn: the paper's 0.5 (DreamerV3's current code uses 1.0).
    rec_scale: float = 1.0
    reward_scale: float = 1.0
    cont_scale: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    # Actor-critic in imagination
    imag_length: int = 15
    horizon: int = 333  # discount 1 - 1/horizon, folded into the continue targets
    lam: float = 0.95
    actent: float = 3e-4
    slowreg: float = 1.0  # the critic's pull towards its slow copy
    slow_rate: float = 0.02  # slow critic <- rate * critic + (1 - rate) * slow, every update
    retnorm_rate: float = 0.01
    retnorm_limit: float = 1.0
    retnorm_low: float = 5.0  # percentiles
    retnorm_high: float = 95.0
    policy_scale: float = 1.0
    value_scale: float = 1.0
    repval_scale: float = 0.3  # the critic also fits lambda-returns of replayed sequences
    # Optimiser (LaProp with adaptive gradient clipping)
    lr: float = 4e-5
    agc: float = 0.3
    eps: float = 1e-20
    beta1: float = 0.9
    beta2: float = 0.999
    warmup: int = 1000

    # ---- Director (director.py, goal_autoencoder.py) ---------------------------------------------
    # Hafner et al. 2022. Sources: danijar/director at a6a649e, embodied/agents/director/configs.yaml
    # (`defaults:`), hierarchy.py and tfutils.py (AutoAdapt). Only director.py reads these.
    goal_every: int = 8  # K: configs.yaml train_skill_duration: 8 and env_skill_duration: 8
    goal_codes: int = 8  # configs.yaml skill_shape: [8, 8] (8 one-hot codes ...
    goal_classes: int = 8  # ... of 8 classes each)
    goal_enc_layers: int = 4  # configs.yaml goal_encoder.layers: 4 (width: our `units`)
    goal_dec_layers: int = 4  # configs.yaml goal_decoder.layers: 4
    goal_kl_target: float = 10.0  # configs.yaml encdec_kl.target: 10.0 (nats, summed over codes)
    goal_kl_min: float = 1e-5  # configs.yaml encdec_kl.min: 1e-5
    goal_kl_max: float = 1.0  # configs.yaml encdec_kl.max: 1.0 (a 'mult' AutoAdapt starts at 1.0)
    goal_kl_vel: float = 0.1  # tfutils.AutoAdapt default vel=0.1 (encdec_kl sets none)
    goal_kl_thres: float = 0.1  # tfutils.AutoAdapt default thres=0.1
    director_imag_length: int = 16  # configs.yaml imag_horizon: 16 (a multiple of goal_every)
    manager_extr: float = 1.0  # configs.yaml manager_rews.extr: 1.0
    manager_expl: float = 0.1  # configs.yaml manager_rews.expl: 0.1 (expl_rew: adver, adver_impl: squared)
    manager_discount: float = 0.99  # configs.yaml discount: 0.99, applied once per abstract (K-step) step
    # The manager's advantage and entropy bonus (director.py). 'director', the published code's:
    # each critic's return and baseline divided by the EMA std of its returns (configs.yaml
    # retnorm: {impl: std, decay: 0.999, max: 1e2}), their weighted sum centred and divided by its
    # own EMA std (advnorm: {impl: mean_std, decay: 0.99, max: 1e8}), and an entropy bonus per code
    # whose scale adapts to hold the code's entropy / log C near manager_entropy_target
    # (manager_actent: 0.5; actent: {impl: mult, min: 1e-5, max: 1e2, vel: 0.1}, thres 0.1,
    # actent_norm, actent_perdim). 'dreamerv3': our base's percentile scale max(1, P95 - P5) per
    # critic and the fixed bonus manager_actent, as the worker (the setting of sessions 7-9: with
    # the return scale at its floor the manager's advantages stayed ~1e-3 and its entropy at the
    # maximum).
    manager_norm: str = "director"
    manager_retnorm_decay: float = 0.999
    manager_retnorm_max: float = 100.0
    manager_advnorm_decay: float = 0.99
    manager_advnorm_max: float = 1e8
    manager_entropy_target: float = 0.5
    manager_entropy_min: float = 1e-5
    manager_entropy_max: float = 100.0
    manager_entropy_vel: float = 0.1
    manager_entropy_thres: float = 0.1
    # Fixed entropy scales, our base's DreamerV3 scale (`actent` above): the worker's always, the
    # manager's with manager_norm 'dreamerv3'. (Director adapts the worker's too; see director.py.)
    manager_actent: float = 3e-4
    worker_actent: float = 3e-4
    # Acting. 'fixed': a new goal every goal_every steps (Director's). 'reached' (gcrl's, not in
    # Director): a new goal once cosine_max(goal, deter) >= reach_threshold, or after replan_timeout.
    replan: str = "fixed"
    reach_threshold: float = 0.9  # gcrl's choice
    replan_timeout: int = 32  # gcrl's choice (4 K)
    # Which parameters an update may move: 'all'; 'manager' (the manager's actor and critics);
    # 'manager_wm' (those and the world model). gcrl's setting, not Director's.
    finetune: str = "all"

    def __post_init__(self):
        if self.deter % self.blocks:
            raise GcrlError(f"online: deter ({self.deter}) must be a multiple of blocks ({self.blocks}).")
        if self.deter % self.dec_blocks:
            raise GcrlError(f"online: deter ({self.deter}) must be a multiple of dec_blocks ({self.dec_blocks}).")
        if self.bins < 2:
            raise GcrlError(f"online: bins must be at least 2, got {self.bins}.")

    @property
    def discount(self) -> float:
        return 1.0 - 1.0 / self.horizon


PRESETS = {
    "paper": {},
    "cpu": dict(deter=128, hidden=64, stoch=8, classes=8, blocks=4, depth=8, mults=(2, 4, 4, 4), units=64, dec_blocks=4, lr=1e-3, warmup=100),
}


def preset(name: str, **overrides) -> Config:
    """A preset's config with `overrides` on top."""
    if name not in PRESETS:
        raise GcrlError(f"online: unknown preset '{name}', expected one of {', '.join(PRESETS)}.")
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise GcrlError(f"online: unknown settings {', '.join(unknown)}.")
    return replace(Config(), **{**PRESETS[name], **overrides})
