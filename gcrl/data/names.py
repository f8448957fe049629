"""OGBench dataset names: which exist, which environment each belongs to, which gcrl can generate."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from gcrl.errors import DatasetError

_MAZES = ("medium", "large", "giant", "teleport")
_MANIP = (*(f"cube-{n}" for n in ("single", "double", "triple", "quadruple")), "scene", *(f"puzzle-{n}" for n in ("3x3", "4x4", "4x5", "4x6")))


def _published_names() -> list[str]:
    names = []
    for maze in _MAZES:
        for kind in ("navigate", "stitch"):
            names.append(f"pointmaze-{maze}-{kind}-v0")
            for prefix in ("", "visual-"):
                names.append(f"{prefix}antmaze-{maze}-{kind}-v0")
                if maze != "teleport":
                    names.append(f"{prefix}humanoidmaze-{maze}-{kind}-v0")
    for maze in ("medium", "large", "teleport"):
        for prefix in ("", "visual-"):
            names.append(f"{prefix}antmaze-{maze}-explore-v0")
    for arena in ("arena", "medium"):
        for kind in ("navigate", "stitch"):
            names.append(f"antsoccer-{arena}-{kind}-v0")
    for env in _MANIP:
        for kind in ("play", "noisy"):
            for prefix in ("", "visual-"):
                names.append(f"{prefix}{env}-{kind}-v0")
    for level in ("easy", "medium", "hard"):
        names.append(f"powderworld-{level}-play-v0")
    return names


PUBLISHED = tuple(_published_names())

# Datasets gcrl generates locally with OGBench's protocol: every pointmaze dataset ('explore' is not
# published by OGBench for pointmaze; gcrl adds it with the protocol OGBench uses for
# antmaze-explore), the manipulation datasets (cube, scene, puzzle; play, noisy) and their visual-* twins.
GENERATABLE_POINTMAZE = tuple(f"pointmaze-{m}-{k}-v0" for m in _MAZES for k in ("navigate", "stitch", "explore"))
GENERATABLE_MANIPULATION = tuple(f"{env}-{k}-v0" for env in _MANIP for k in ("play", "noisy"))
# Their visual-* twins, rendered headless in OGBench's visual environments (gcrl.data.generate_visual).
GENERATABLE_VISUAL_MANIPULATION = tuple(f"visual-{n}" for n in GENERATABLE_MANIPULATION)
# gcrl's own: OGBench's pointmaze datasets seen through gcrl's fast top-down renderer (gcrl.envs.pixel_maze),
# evaluated in the matching pixel-pointmaze-MAZE-v0 environment. OGBench has no pixel pointmaze.
GENERATABLE_PIXEL_POINTMAZE = tuple(f"pixel-pointmaze-{m}-{k}-v0" for m in ("medium", "large", "giant") for k in ("navigate", "stitch"))
GENERATABLE = GENERATABLE_POINTMAZE + GENERATABLE_MANIPULATION + GENERATABLE_VISUAL_MANIPULATION + GENERATABLE_PIXEL_POINTMAZE

_NAME = re.compile(r"^(?P<env>.+)-(?P<kind>[a-z]+)-(?P<version>v\d+)$")


def _env_of(name: str) -> str:
    m = _NAME.match(name)
    return f"{m['env']}-{m['version']}" if m else name


# Every OGBench environment (gymnasium id) a dataset above is evaluated in, e.g. antmaze-large-v0.
ENV_NAMES = tuple(sorted({_env_of(n) for n in (*PUBLISHED, *GENERATABLE)}))


@dataclass(frozen=True)
class DatasetName:
    """A parsed dataset name such as 'pointmaze-medium-navigate-v0'."""

    name: str
    env_name: str  # the gymnasium id, e.g. 'pointmaze-medium-v0'
    kind: str  # navigate, stitch, explore, play, noisy
    pixels: bool
    discrete_actions: bool

    @property
    def is_maze(self) -> bool:
        return "maze" in self.env_name

    @property
    def generatable(self) -> bool:
        return self.name in GENERATABLE


def env_name(name: str) -> str:
    """The OGBench environment named by an environment id (antmaze-large-v0) or by a dataset name
    (antmaze-large-navigate-v0: the environment it is evaluated in); unknown names get a suggestion."""
    if name in ENV_NAMES:
        return name
    if name in PUBLISHED or name in GENERATABLE:
        return parse(name).env_name
    close = difflib.get_close_matches(name, ENV_NAMES, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise DatasetError(f"Unknown OGBench environment '{name}'.{hint} `gcrl datasets list` shows the datasets; each one's environment is its name without the dataset kind (antmaze-large-navigate-v0 -> antmaze-large-v0).")


def parse(name: str) -> DatasetName:
    """Parse an OGBench dataset name; unknown names get a suggestion."""
    if name not in PUBLISHED and name not in GENERATABLE:
        close = difflib.get_close_matches(name, sorted(set(PUBLISHED) | set(GENERATABLE)), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise DatasetError(
            f"Unknown dataset name '{name}'.{hint} "
            "For your own data, pass the path of a .npz file instead of a name."
        )
    m = _NAME.match(name)
    assert m is not None, name
    env = m["env"]
    return DatasetName(
        name=name,
        env_name=f"{env}-{m['version']}",
        kind=m["kind"],
        pixels=env.startswith(("visual-", "pixel-", "powderworld")),
        discrete_actions=env.startswith("powderworld"),
    )


def episodes_with_validation(train_episodes: int) -> int:
    """All the episodes a generated dataset holds: the training ones plus a tenth as many for
    validation, as OGBench's scripts split them, but at least one (the script makes none below ten
    episodes, and then the validation file would not load)."""
    if train_episodes < 1:
        raise DatasetError(f"--episodes must be at least 1, got {train_episodes}.")
    return train_episodes + max(1, train_episodes // 10)
