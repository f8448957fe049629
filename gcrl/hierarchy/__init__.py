"""Hierarchical execution: a high level proposing subgoals, a low level reaching them.

- policy: the two-level policy, its replanning rules and statistics;
- levels: high and low levels from run directories (or the maze oracle) and their composition;
- evaluate: `gcrl evaluate` with a hierarchy (and flat runs as low levels);
- dagger: corrections of the high level only, under the maze oracle.
"""
