"""The environments OGBench trains its experts in (data_gen_scripts/online_env_utils.py), and each
expert's published command line (data_gen_scripts/commands.sh) as settings.

- ant: online-ant-v0 (the ogbench package's Ant: restricted joints, 10 Hz, 1000-step episodes)
  under the directional wrapper: a unit direction z ~ N(0, I) normalised, drawn at reset and every
  100 steps, appended to the observation (27 + 2 = 29 dims); reward = (xy' - xy) . z, the torso's
  displacement along z in one step (OGBench's GymXYWrapper).
- antball: online-antball-v0 (the ant and a ball to move to a goal; 200-step episodes), as is.
- humanoid: online-humanoid-v0 under the same wrapper with a direction every 200 steps and DMC's
  standing reward: reward = stand x (1 + 100 (xy' - xy) . z), stand = tolerance(head height >= 1.4,
  margin 0.35) x tolerance(torso upright >= 0.9, margin 1.9, linear) (OGBench's DMCHumanoidXYWrapper).

The wrapper here draws its directions from its own seeded generator; OGBench's draws them from
NumPy's global one, which main_sac.py seeds once: the same distribution, reproducible per seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium
import numpy as np

from gcrl.errors import GcrlError


@dataclass(frozen=True)
class ExpertSpec:
    env_id: str
    directional: str | None  # None, "ant" or "humanoid": which reward the direction wrapper gives
    resample_every: int = 100
    loop: dict = field(default_factory=dict)  # commands.sh's main_sac.py flags
    agent: dict = field(default_factory=dict)  # commands.sh's --agent.* flags


EXPERTS = {
    "ant": ExpertSpec("online-ant-v0", "ant", 100, dict(steps=400_000, eval_every=100_000, log_every=5_000)),
    "antball": ExpertSpec("online-antball-v0", None, loop=dict(steps=12_000_000, train_interval=4, eval_every=500_000, log_every=20_000, terminate_at_end=True),
                          agent=dict(layer_norm=True)),
    "humanoid": ExpertSpec("online-humanoid-v0", "humanoid", 200, dict(steps=40_000_000, train_interval=4, eval_every=500_000, log_every=20_000),
                           agent=dict(value_hidden=(1024, 1024, 1024), layer_norm=True, min_q=False)),
}  # fmt: skip


def spec(name: str) -> ExpertSpec:
    try:
        return EXPERTS[name]
    except KeyError:
        raise GcrlError(f"Unknown expert '{name}'. Choose one of: {', '.join(EXPERTS)}.") from None


class Directional(gymnasium.Wrapper):
    """Move along a commanded direction z (unit 2-vector, redrawn every `every` steps), given to the
    agent after its observation."""

    def __init__(self, env, kind: str, every: int, seed: int):
        super().__init__(env)
        self.kind, self.every, self.rng = kind, every, np.random.default_rng(seed)
        self.z, self.steps = self._draw(), 0
        dim = env.observation_space.shape[0] + 2
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (dim,), np.float64)

    def _draw(self):
        z = self.rng.standard_normal(2)
        return z / np.linalg.norm(z)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.z, self.steps = self._draw(), 0
        return np.concatenate([obs, self.z]), info

    def step(self, action):
        data = self.unwrapped.data
        before = data.qpos[:2].copy()
        obs, _, terminated, truncated, info = self.env.step(action)
        after = data.qpos[:2].copy()
        progress = float((after - before) @ self.z)
        reward = progress if self.kind == "ant" else self._stand(data) * (1.0 + 100.0 * progress)
        info = {**info, "xy": after, "direction": self.z, "progress": progress}
        self.steps += 1
        if self.steps % self.every == 0:  # the next observation already shows the new direction, as OGBench's wrapper returns it
            self.z = self._draw()
        return np.concatenate([obs, self.z]), reward, terminated, truncated, info

    @staticmethod
    def _stand(data) -> float:
        from ogbench.online_locomotion.humanoid import tolerance

        standing = tolerance(data.xpos[2, 2], bounds=(1.4, float("inf")), margin=1.4 / 4)  # head height
        upright = tolerance(data.xmat[1, 8], bounds=(0.9, float("inf")), margin=1.9, sigmoid="linear", value_at_margin=0)  # torso zz
        return float(standing * upright)


def make_env(name: str, seed: int):
    """One expert environment, seeded (its first reset, its action space and its directions)."""
    import ogbench.online_locomotion  # noqa: F401  (registers the online-* environments)

    s = spec(name)
    env = gymnasium.make(s.env_id)
    if s.directional:
        env = Directional(env, s.directional, s.resample_every, seed + 1)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    return env
