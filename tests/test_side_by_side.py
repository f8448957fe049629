"""benchmarks/side_by_side.py's table: a seed run on one side only is shown, never averaged."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import side_by_side as S  # noqa: E402


def test_the_mean_pairs_the_seeds_both_sides_have(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "OUT", tmp_path)
    for seed, (half, end) in {0: (0.6, 0.8), 1: (0.4, 1.0)}.items():
        (tmp_path / "published" / f"saw-seed{seed}").mkdir(parents=True)
        (tmp_path / "published" / f"saw-seed{seed}" / "eval.csv").write_text(
            f"evaluation/overall_success,step\n0.0,1\n{half},50\n{end},100\n")
    ours = {("saw", 0): {50: 0.5, 100: 0.7}, ("saw", 2): {50: 0.9, 100: 0.9}}  # seed 1 gcrl-less, seed 2 published-less
    monkeypatch.setattr(S, "gcrl_success", lambda agent, seed: ours.get((agent, seed), {}))
    lines = S.table(["saw", "hiql"], [0, 1, 2], 100).splitlines()
    assert lines[2:] == [
        "| SAW | 0 | 60 | 50 | 80 | 70 |",
        "| SAW | 1 | 40 | - | 100 | - |",
        "| SAW | 2 | - | 90 | - | 90 |",
    ]  # one paired seed: no mean row; HIQL has nothing on either side: no row
    ours[("saw", 1)] = {50: 0.3, 100: 0.6}
    assert S.table(["saw"], [0, 1, 2], 100).splitlines()[-1] == "| SAW | mean of the 2 paired seeds | **50** | **40** | **90** | **65** |"
