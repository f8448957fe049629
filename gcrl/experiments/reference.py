"""Published success rates (%) on OGBench, mean and std over seeds, for `gcrl report`.

Copied from shared/REFERENCE.md: the OGBench paper's table (GCBC, GCIVL, GCIQL, QRL, CRL, HIQL) and the
SAW paper's Table 1 (RIS, SAW; arXiv 2505.14975), 1M updates (pixels 500K), 8 seeds (pixels 4), 50
episodes per task. Keys are dataset names without the version suffix."""

from __future__ import annotations

import re

AGENTS = ("GCBC", "GCIVL", "GCIQL", "QRL", "CRL", "HIQL", "RIS", "SAW")

PUBLISHED: dict[str, dict[str, tuple[int, int]]] = {
    "pointmaze-medium-navigate": {"GCBC": (9, 6), "GCIVL": (63, 6), "GCIQL": (53, 8), "QRL": (82, 5), "CRL": (29, 7), "HIQL": (79, 5), "RIS": (88, 6), "SAW": (97, 2)},
    "pointmaze-large-navigate": {"GCBC": (29, 6), "GCIVL": (45, 5), "GCIQL": (34, 3), "QRL": (86, 9), "CRL": (39, 7), "HIQL": (58, 5), "RIS": (63, 13), "SAW": (85, 10)},
    "pointmaze-giant-navigate": {"GCBC": (1, 2), "GCIVL": (0, 0), "GCIQL": (0, 0), "QRL": (68, 7), "CRL": (27, 10), "HIQL": (46, 9), "RIS": (57, 12), "SAW": (68, 8)},
    "antmaze-medium-navigate": {"GCBC": (29, 4), "GCIVL": (72, 8), "GCIQL": (71, 4), "QRL": (88, 3), "CRL": (95, 1), "HIQL": (96, 1), "RIS": (96, 1), "SAW": (97, 1)},
    "antmaze-large-navigate": {"GCBC": (24, 2), "GCIVL": (16, 5), "GCIQL": (34, 4), "QRL": (75, 6), "CRL": (83, 4), "HIQL": (91, 2), "RIS": (89, 3), "SAW": (90, 3)},
    "antmaze-giant-navigate": {"GCBC": (0, 0), "GCIVL": (0, 0), "GCIQL": (0, 0), "QRL": (14, 3), "CRL": (16, 3), "HIQL": (65, 5), "RIS": (65, 4), "SAW": (73, 4)},
    "humanoidmaze-medium-navigate": {"GCBC": (8, 2), "GCIVL": (24, 2), "GCIQL": (27, 2), "QRL": (21, 8), "CRL": (60, 4), "HIQL": (89, 2), "RIS": (73, 5), "SAW": (88, 3)},
    "humanoidmaze-large-navigate": {"GCBC": (1, 0), "GCIVL": (2, 1), "GCIQL": (2, 1), "QRL": (5, 1), "CRL": (24, 4), "HIQL": (49, 4), "RIS": (21, 7), "SAW": (46, 4)},
    "humanoidmaze-giant-navigate": {"GCBC": (0, 0), "GCIVL": (0, 0), "GCIQL": (0, 0), "QRL": (1, 0), "CRL": (3, 2), "HIQL": (12, 4), "RIS": (3, 2), "SAW": (35, 4)},
    "cube-single-play": {"GCBC": (6, 2), "GCIVL": (53, 4), "GCIQL": (68, 6), "QRL": (5, 1), "CRL": (19, 2), "HIQL": (44, 9), "RIS": (81, 6), "SAW": (72, 5)},
    "cube-double-play": {"GCBC": (1, 1), "GCIVL": (36, 3), "GCIQL": (40, 5), "QRL": (1, 0), "CRL": (10, 2), "HIQL": (6, 2), "RIS": (36, 4), "SAW": (40, 7)},
    "cube-triple-play": {"GCBC": (1, 1), "GCIVL": (1, 0), "GCIQL": (3, 1), "QRL": (0, 0), "CRL": (4, 1), "HIQL": (3, 1), "RIS": (3, 2), "SAW": (4, 2)},
    "scene-play": {"GCBC": (5, 1), "GCIVL": (42, 4), "GCIQL": (51, 4), "QRL": (5, 1), "CRL": (19, 2), "HIQL": (38, 3), "RIS": (64, 7), "SAW": (63, 6)},
    "puzzle-3x3-play": {"GCBC": (2, 0), "GCIVL": (6, 1), "GCIQL": (95, 1), "QRL": (1, 0), "CRL": (3, 1), "HIQL": (12, 2), "SAW": (9, 3)},
    "visual-antmaze-medium-navigate": {"GCBC": (11, 2), "GCIVL": (22, 2), "GCIQL": (11, 1), "QRL": (0, 0), "CRL": (94, 1), "HIQL": (93, 4), "RIS": (55, 47), "SAW": (95, 0)},
    "visual-antmaze-large-navigate": {"GCBC": (4, 0), "GCIVL": (5, 1), "GCIQL": (4, 1), "QRL": (0, 0), "CRL": (84, 1), "HIQL": (53, 9), "RIS": (43, 44), "SAW": (82, 4)},
    "visual-antmaze-giant-navigate": {"GCBC": (0, 0), "GCIVL": (1, 1), "GCIQL": (0, 0), "QRL": (0, 0), "CRL": (47, 2), "HIQL": (6, 4), "RIS": (4, 1), "SAW": (10, 2)},
    "visual-cube-single-play": {"GCBC": (5, 1), "GCIVL": (60, 5), "GCIQL": (30, 5), "QRL": (41, 15), "CRL": (31, 15), "HIQL": (89, 0), "RIS": (63, 37), "SAW": (88, 3)},
    "visual-cube-double-play": {"GCBC": (1, 1), "GCIVL": (10, 2), "GCIQL": (1, 1), "QRL": (5, 0), "CRL": (2, 1), "HIQL": (39, 2), "RIS": (28, 6), "SAW": (40, 3)},
    "visual-scene-play": {"GCBC": (12, 2), "GCIVL": (25, 3), "GCIQL": (12, 2), "QRL": (10, 1), "CRL": (11, 2), "HIQL": (49, 4), "RIS": (38, 3), "SAW": (47, 6)},
    # SAW on stitch datasets (the SAW paper's appendix).
    "pointmaze-medium-stitch": {"SAW": (87, 4)},
    "pointmaze-large-stitch": {"SAW": (8, 9)},
    "pointmaze-giant-stitch": {"SAW": (0, 0)},
    "antmaze-medium-stitch": {"SAW": (96, 1)},
    "antmaze-large-stitch": {"SAW": (66, 9)},
    "antmaze-giant-stitch": {"SAW": (1, 1)},
}

# Entries whose value function was trained with expectile 0.9 (marked * in the papers).
EXPECTILE_09 = {("cube-single-play", "HIQL"), ("cube-single-play", "RIS"), ("cube-single-play", "SAW")}

SOURCE = "published: OGBench paper; RIS and SAW from the SAW paper (1M updates, pixels 500K; 8 seeds, pixels 4; 50 episodes per task)"


def key(dataset: str) -> str:
    """'pointmaze-medium-navigate-v0' -> 'pointmaze-medium-navigate'."""
    return re.sub(r"-v\d+$", "", dataset)


def published(dataset: str, agent: str) -> tuple[int, int] | None:
    """(mean, std) in percent for an agent name such as 'saw' or 'SAW', or None."""
    return PUBLISHED.get(key(dataset), {}).get(agent.upper())


def published_text(dataset: str, agent: str) -> str | None:
    """'97 ± 2', or '44* ± 9' for an expectile-0.9 entry; None where nothing is published."""
    entry = published(dataset, agent)
    if entry is None:
        return None
    star = "*" if (key(dataset), agent.upper()) in EXPECTILE_09 else ""
    return f"{entry[0]}{star} ± {entry[1]}"
