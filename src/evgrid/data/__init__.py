"""evgrid.data (Kedro-free library)."""
