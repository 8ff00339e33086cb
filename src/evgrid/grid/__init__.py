"""evgrid.grid (Kedro-free library)."""
