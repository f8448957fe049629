"""Progress where nobody watches a terminal: a log file gets plain lines, not one bar at the end."""

from gcrl.console import Reporter, RunsReporter, rate_text


def test_reporter_prints_progress_lines_when_stderr_is_not_a_terminal(capsys):
    reporter = Reporter("render", 10, "frames", line_every=0.0)
    for _ in range(4):
        reporter.advance(2)
    reporter.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 5  # one per advance (every 0 s), one at the end
    assert lines[0].startswith("render 2/10 (20%)") and "frames/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("render 8/10 (80%)")


def test_reporter_counts_from_a_resumed_start_and_stays_quiet_between_intervals(capsys):
    reporter = Reporter("train", 100, "updates", start=40, line_every=3600.0)
    reporter.advance(10)
    reporter.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("train 50/100 (50%)")


def test_disabled_reporter_is_silent(capsys):
    reporter = Reporter("train", 10, enabled=False)
    reporter.advance(5)
    reporter.close()
    assert capsys.readouterr().err == ""


def test_sweep_progress_is_a_line_per_update_in_a_log(capsys):
    reporter = RunsReporter(3, live=True)
    reporter.update(1, "1 done", 120.0)
    reporter.close()
    assert "sweep 1/3 runs: 1 done" in capsys.readouterr().out


def test_slow_rates_keep_three_significant_figures_fast_ones_their_decimals():
    # a pixel run's closing line once read "200 updates at 0 updates/s"
    assert [rate_text(r) for r in (0.15234, 0.0112, 3.456, 85.2, 1077.4)] == ["0.152", "0.0112", "3.46", "85", "1,077"]
    assert rate_text(85.23, 1) == "85.2"
