"""evgrid.optim (Kedro-free library)."""
