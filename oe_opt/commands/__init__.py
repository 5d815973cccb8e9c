"""Further CLI commands, each module exposing a click ``command``."""
