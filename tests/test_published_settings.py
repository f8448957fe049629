"""The resolved configuration of (agent, dataset) pairs, pinned to the published values, each row
naming its source. Paper preset (the published networks, batch and budget); a value not listed is
not checked by that row.

Sources: OGBench = github.com/seohongpark/ogbench impls/agents/AGENT.py get_config and
impls/hyperparameters.sh (the line "# DATASET (AGENT)"); SAW = github.com/johnlyzhou/saw, the same
files (its hyperparameters.sh starts with the SAW lines; kl_alpha is gcrl's beta, awr_alpha its
alpha, low_alpha its alpha_sub)."""

from __future__ import annotations

import dataclasses

import pytest

from gcrl import config
from gcrl.data import names

TRAJ_GOALS, STITCH_GOALS, EXPLORE_GOALS = (0.0, 1.0, 0.0), (0.0, 0.5, 0.5), (0.0, 0.0, 1.0)
PAPER_NETS = dict(lr=3e-4, batch_size=1024, hidden=(512, 512, 512), steps=1_000_000)
PIXELS = dict(batch_size=256, encoder="impala_small", steps=500_000)

# (agent, dataset, source, expected settings)
PUBLISHED = [
    ("gcbc", "pointmaze-medium-navigate-v0", "OGBench gcbc get_config", dict(**PAPER_NETS, discount=0.99, actor_goals=TRAJ_GOALS, encoder=None, p_aug=0.0)),
    ("gcbc", "antmaze-large-stitch-v0", "OGBench hyperparameters.sh (GCBC): no actor-goal flags", dict(actor_goals=TRAJ_GOALS)),
    ("gcbc", "visual-antmaze-medium-navigate-v0", "OGBench hyperparameters.sh (GCBC)", dict(**PIXELS, p_aug=0.0)),
    ("gcbc", "visual-cube-single-play-v0", "OGBench hyperparameters.sh (GCBC)", dict(**PIXELS, p_aug=0.5)),
    ("gcivl", "pointmaze-medium-navigate-v0", "OGBench gcivl get_config; hyperparameters.sh alpha=10.0",
     dict(**PAPER_NETS, expectile=0.9, alpha=10.0, discount=0.99, value_goals=(0.2, 0.5, 0.3), actor_goals=TRAJ_GOALS, layer_norm=True)),
    ("gcivl", "pointmaze-giant-navigate-v0", "OGBench hyperparameters.sh (GCIVL) discount=0.995", dict(discount=0.995, expectile=0.9)),
    ("gcivl", "antmaze-large-stitch-v0", "OGBench hyperparameters.sh (GCIVL) actor_p_randomgoal=0.5", dict(actor_goals=STITCH_GOALS, discount=0.99)),
    ("gcivl", "antmaze-medium-explore-v0", "OGBench hyperparameters.sh (GCIVL) actor_p_randomgoal=1.0", dict(actor_goals=EXPLORE_GOALS)),
    ("gcivl", "humanoidmaze-medium-navigate-v0", "OGBench hyperparameters.sh (GCIVL)", dict(discount=0.995, alpha=10.0)),
    ("gcivl", "cube-double-noisy-v0", "OGBench hyperparameters.sh (GCIVL)", dict(alpha=10.0, discount=0.99, actor_goals=TRAJ_GOALS)),
    ("gcivl", "powderworld-easy-play-v0", "OGBench hyperparameters.sh (GCIVL) alpha=3.0", dict(alpha=3.0, **PIXELS)),
    ("gcivl", "visual-antmaze-medium-navigate-v0", "OGBench hyperparameters.sh (GCIVL): no p_aug on mazes", dict(**PIXELS, p_aug=0.0)),
    ("hiql", "pointmaze-medium-navigate-v0", "OGBench hiql get_config; hyperparameters.sh high/low_alpha=3.0",
     dict(**PAPER_NETS, expectile=0.7, high_alpha=3.0, low_alpha=3.0, subgoal_steps=25, rep_dim=10, low_actor_rep_grad=False, discount=0.99)),
    ("hiql", "antmaze-large-explore-v0", "OGBench hyperparameters.sh (HIQL) high/low_alpha=10.0", dict(high_alpha=10.0, low_alpha=10.0, actor_goals=EXPLORE_GOALS)),
    ("hiql", "humanoidmaze-giant-stitch-v0", "OGBench hyperparameters.sh (HIQL)", dict(subgoal_steps=100, discount=0.995, actor_goals=STITCH_GOALS)),
    ("hiql", "cube-single-play-v0", "OGBench hyperparameters.sh (HIQL): subgoal_steps=10, no expectile flag", dict(subgoal_steps=10, expectile=0.7)),
    ("hiql", "puzzle-4x4-noisy-v0", "OGBench hyperparameters.sh (HIQL)", dict(subgoal_steps=10, low_actor_rep_grad=False)),
    ("hiql", "visual-cube-double-play-v0", "OGBench hyperparameters.sh (HIQL)", dict(**PIXELS, low_actor_rep_grad=True, p_aug=0.5, subgoal_steps=10)),
    ("hiql", "visual-antmaze-medium-navigate-v0", "OGBench hyperparameters.sh (HIQL)", dict(**PIXELS, low_actor_rep_grad=True, p_aug=0.0, subgoal_steps=25)),
    ("saw", "pointmaze-medium-navigate-v0", "SAW saw get_config; hyperparameters.sh pointmaze-medium-navigate-v0",
     dict(**PAPER_NETS, expectile=0.7, alpha=3.0, beta=3.0, alpha_sub=3.0, subgoal_steps=25, rep_dim=10, share_goal_rep=False, const_std=True)),
    ("saw", "pointmaze-giant-navigate-v0", "SAW hyperparameters.sh discount=0.995", dict(discount=0.995, subgoal_steps=25)),
    ("saw", "humanoidmaze-medium-navigate-v0", "SAW hyperparameters.sh", dict(discount=0.995, subgoal_steps=100)),
    ("saw", "cube-single-play-v0", "SAW hyperparameters.sh kl_alpha=0.3 subgoal_steps=10 expectile=0.9", dict(beta=0.3, subgoal_steps=10, expectile=0.9)),
    ("saw", "cube-double-play-v0", "SAW hyperparameters.sh kl_alpha=1.0 subgoal_steps=10", dict(beta=1.0, subgoal_steps=10, expectile=0.7)),
    ("saw", "scene-play-v0", "SAW hyperparameters.sh kl_alpha=1.0 subgoal_steps=10", dict(beta=1.0, subgoal_steps=10)),
    ("saw", "visual-antmaze-giant-navigate-v0", "SAW hyperparameters.sh", dict(**PIXELS, share_goal_rep=True, discount=0.995, p_aug=0.0)),
    ("saw", "visual-cube-single-play-v0", "SAW hyperparameters.sh: no kl_alpha or expectile flag",
     dict(**PIXELS, share_goal_rep=True, p_aug=0.5, subgoal_steps=10, beta=3.0, expectile=0.7)),
    ("gcbc", "powderworld-easy-play-v0", "OGBench hyperparameters.sh (GCBC) --eval_temperature=0.3", dict(**PIXELS, eval_temperature=0.3, p_aug=0.0)),
    ("gciql", "pointmaze-medium-navigate-v0", "OGBench gciql get_config; hyperparameters.sh alpha=0.003",
     dict(**PAPER_NETS, expectile=0.9, alpha=0.003, actor_loss="ddpgbc", value_goals=(0.2, 0.5, 0.3), actor_goals=TRAJ_GOALS, eval_temperature=0.0)),
    ("gciql", "antmaze-medium-explore-v0", "OGBench hyperparameters.sh (GCIQL) alpha=0.01", dict(alpha=0.01, actor_goals=EXPLORE_GOALS)),
    ("gciql", "cube-double-noisy-v0", "OGBench hyperparameters.sh (GCIQL) alpha=0.03", dict(alpha=0.03)),
    ("gciql", "powderworld-easy-play-v0", "OGBench hyperparameters.sh (GCIQL) actor_loss=awr alpha=3.0", dict(**PIXELS, actor_loss="awr", alpha=3.0, eval_temperature=0.3)),
    ("qrl", "pointmaze-giant-navigate-v0", "OGBench qrl get_config; hyperparameters.sh alpha=0.0003 discount=0.995",
     dict(alpha=0.0003, discount=0.995, value_goals=(0.0, 0.0, 1.0), quasimetric="iqe", latent_dim=512, dim_per_component=8)),
    ("qrl", "humanoidmaze-medium-navigate-v0", "OGBench hyperparameters.sh (QRL) alpha=0.001", dict(alpha=0.001, discount=0.995)),
    ("qrl", "scene-play-v0", "OGBench hyperparameters.sh (QRL) alpha=0.3", dict(alpha=0.3)),
    ("crl", "pointmaze-medium-navigate-v0", "OGBench crl get_config; hyperparameters.sh alpha=0.03",
     dict(**PAPER_NETS, alpha=0.03, value_goals=(0.0, 1.0, 0.0), latent_dim=512, actor_loss="ddpgbc")),
    ("crl", "antsoccer-arena-stitch-v0", "OGBench hyperparameters.sh (CRL) alpha=0.3", dict(alpha=0.3, actor_goals=STITCH_GOALS)),
    ("crl", "cube-single-play-v0", "OGBench hyperparameters.sh (CRL) alpha=3.0", dict(alpha=3.0)),
    ("ris", "pointmaze-medium-navigate-v0", "SAW ris get_config; README's RIS command",
     dict(**PAPER_NETS, expectile=0.7, low_alpha=3.0, high_alpha=3.0, kl_alpha=3.0, subgoal_steps=25, use_subgoal_rep=True, low_actor_rep_grad=False)),
    ("ris", "cube-single-play-v0", "SAW paper Table 1: RIS on cube-single at expectile 0.9 (marked *)", dict(expectile=0.9, subgoal_steps=10)),
    ("gcwae", "antmaze-large-navigate-v0", "SAW gcwae get_config; README's GCWAE command",
     dict(**PAPER_NETS, expectile=0.7, low_alpha=3.0, high_alpha=3.0, subgoal_steps=25, use_subgoal_rep=False)),
]


def resolved(agent: str, dataset: str) -> dict:
    train_cfg, agent_cfg = config.resolve(agent, dataset, "paper", pixels=names.parse(dataset).pixels)
    values = {**dataclasses.asdict(train_cfg), **dataclasses.asdict(agent_cfg)}
    values["value_goals"] = tuple(values[f"value_p_{s}"] for s in ("cur", "traj", "random"))
    values["actor_goals"] = tuple(values[f"actor_p_{s}"] for s in ("cur", "traj", "random"))
    return values


@pytest.mark.parametrize("agent, dataset, source, expected", PUBLISHED, ids=[f"{a}-{d}" for a, d, _, _ in PUBLISHED])
def test_resolved_settings_are_the_published_ones(agent, dataset, source, expected):
    values = resolved(agent, dataset)
    wrong = {k: (values[k], v) for k, v in expected.items() if values[k] != v}
    assert not wrong, f"{agent} on {dataset} differs from {source}: setting -> (gcrl, published) {wrong}"


def test_sets_still_win_over_the_published_settings():
    _, agent_cfg = config.resolve("gcivl", "antmaze-large-stitch-v0", "cpu", sets={"actor_p_traj": "1", "actor_p_random": "0", "expectile": "0.7"})
    assert (agent_cfg.actor_p_traj, agent_cfg.actor_p_random, agent_cfg.expectile) == (1.0, 0.0, 0.7)
