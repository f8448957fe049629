"""Environments: OGBench's, made by dataset name, plus maze geometry helpers."""

import warnings


def mute_harmless_warnings() -> None:
    """Silence, for this process, two warnings that OGBench's MuJoCo environments print in every
    process that makes or first resets one, about nothing that matters here: glfw finds no screen
    (rendering is headless, or not used) and gymnasium casts the [-1, 1] action Box's bounds to float32."""
    warnings.filterwarnings("ignore", message=".*DISPLAY environment variable")
    warnings.filterwarnings("ignore", message=".*precision lowered by casting")
