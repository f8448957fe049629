"""`gcrl bench`'s accounting: which matrix products an update has, their FLOPs, and the table."""

import jax.numpy as jnp
from jax import lax

from gcrl.bench import markdown, matrix_products, product_flops, products_alone


def products_example(a, b, c, d):
    def body(x, _):
        return x, x @ b  # 3 x 4 @ 4 x 5, once per scan step

    _, ys = lax.scan(body, a, None, length=3)
    return ys, jnp.einsum("bij,bjk->bik", c, d), jnp.einsum("ji,jk->ik", a, a)


ARGS = (jnp.ones((3, 4)), jnp.ones((4, 5)), jnp.ones((2, 3, 4)), jnp.ones((2, 4, 6)))


def test_matrix_products_are_found_inside_scans_with_their_flops():
    flops = sorted(product_flops(*p) for p in matrix_products(products_example, *ARGS))
    # scan: 3 x 2*3*4*5; batched: 2 batches x 2*3*4*6; a^T a contracts the 3 rows: 2*4*4*3
    assert flops == [96, 120, 120, 120, 288]


def test_products_alone_times_the_same_products():
    alone = products_alone(products_example, *ARGS, seconds=0.01)
    assert alone["products"] == 5 and alone["flops"] == 744 and alone["seconds"] > 0


def test_the_table_shows_the_products_limit_and_dashes_where_not_measured():
    row = dict(agent="saw", preset="cpu", updates_per_s=80.0, compile_s=4.0, flops_per_update=1.5e9, gflops_per_s=120.0, peak_rss_mb=900.0)
    report = {
        "agents": [{**row, "products_alone_per_s": 90.0, "products_share": 0.8}, {**row, "preset": "paper", "products_alone_per_s": None}],
        "matmul_gflops_per_s": {"256": 150.0},
    }
    lines = markdown(report).splitlines()
    assert "matrix products alone: updates/s" in lines[0]
    assert lines[2] == "| saw | cpu | 80.0 | 4.0 | 1.50 | 120 | 90.0 | 80% | 900 |"
    assert lines[3] == "| saw | paper | 80.0 | 4.0 | 1.50 | 120 | - | - | 900 |"


def test_pixel_rows_and_the_pixel_evaluation_are_labelled():
    row = dict(agent="saw", preset="cpu", updates_per_s=0.35, compile_s=20.0, flops_per_update=3.0e11, gflops_per_s=105.0, peak_rss_mb=3000.0)
    visual = {"env": "visual-cube-single-v0", "episodes": 2, "workers": 2, "s_per_episode": 30.0, "env_steps_per_s": 13.3, "steps_per_episode": 200}
    lines = markdown({"agents": [{**row, "pixels": True, "products_alone_per_s": None}], "matmul_gflops_per_s": {"256": 150.0}, "visual_evaluation": visual}).splitlines()
    assert lines[2] == "| saw | cpu, pixels | 0.35 | 20.0 | 300.00 | 105 | - | - | 3000 |"
    assert any(line.startswith("pixels: visual-cube-single-play-v0's shapes") for line in lines)
    assert "pixel evaluation (visual-cube-single-v0, MuJoCo's camera): 30.0 s per 200-step episode, 2 in lockstep on 2 worker processes" in lines[-1]
    failed = markdown({"agents": [], "matmul_gflops_per_s": {}, "visual_evaluation": {"error": "RuntimeError: no EGL"}}).splitlines()
    assert failed[-1] == "pixel evaluation: RuntimeError: no EGL"


def test_every_agent_alone_is_measured_before_seeds_together_and_saved_after_each(tmp_path, monkeypatch):
    """A bench stopped part-way keeps every row it measured, and the rows alone come first."""
    import json

    from gcrl import bench

    measured, saved_rows = [], []
    path = tmp_path / "bench.json"

    def fake_measure(name, preset, seconds, seeds=1, mode="auto", pixels=False):
        if path.exists():  # what was on disk when this measurement began
            saved = json.loads(path.read_text())
            saved_rows.append(len(saved["agents"]) + len(saved.get("seeds", [])))
        measured.append((name, preset, seeds, mode))
        row = dict(agent=name, preset=preset, updates_per_s=10.0, compile_s=1.0, flops_per_update=1e9, gflops_per_s=10.0, peak_rss_mb=1.0)
        return {**row, "seeds": seeds, "seed_mode": mode if seeds > 1 else None, "products_alone_per_s": None}

    monkeypatch.setattr(bench, "measure_agent", fake_measure)
    monkeypatch.setattr(bench, "matmul_peak", lambda rows, seconds: {str(r): 1.0 for r in rows})
    for slow in ("evaluation_speed", "generation_speed", "pixel_maze_speed"):
        monkeypatch.setattr(bench, slow, lambda **_: (_ for _ in ()).throw(KeyboardInterrupt))  # stopped after the agents
    try:
        bench.run(["saw", "gcbc"], ["cpu", "paper"], quick=True, json_path=str(path), seeds=8, seed_modes=("vmap",))
    except KeyboardInterrupt:
        pass
    assert measured == [("saw", "cpu", 1, "auto"), ("gcbc", "cpu", 1, "auto"), ("saw", "paper", 1, "auto"), ("gcbc", "paper", 1, "auto"),
                        ("saw", "cpu", 8, "vmap"), ("gcbc", "cpu", 8, "vmap"), ("saw", "paper", 8, "vmap"), ("gcbc", "paper", 8, "vmap")]  # fmt: skip
    assert saved_rows == [1, 2, 3, 4, 5, 6, 7]
    report = json.loads(path.read_text())
    assert len(report["agents"]) == 4 and len(report["seeds"]) == 4 and report["device"] == "cpu"
    table = path.with_suffix(".md").read_text()
    assert "device: cpu" in table and "saw (paper), 8 seeds in one program (vmap): 10.0 updates/s for each seed (1.00x one seed alone: 8.0x the updates of one run in the same time)" in table
