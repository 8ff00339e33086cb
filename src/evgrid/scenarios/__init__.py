"""evgrid.scenarios (Kedro-free library)."""
