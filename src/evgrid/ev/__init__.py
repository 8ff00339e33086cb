"""EV load models (Kedro-free)."""
