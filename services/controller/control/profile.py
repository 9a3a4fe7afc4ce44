"""Temperature profiles for the control loops: the pure schedule math is shared with
the API (`services.common.profiles`), so both agree on where a run is."""

from services.common.profiles import Schedule, elapsed_in, jump, pause, resume

__all__ = ["Schedule", "elapsed_in", "jump", "pause", "resume"]
