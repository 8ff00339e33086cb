"""Real inputs of the parking study built from the embedded raw files (no prior ingest run needed)."""

import pytest

from tests.studies.parking import fixtures as fx


@pytest.fixture(scope="session")
def real_inputs() -> dict:
    return fx.real_inputs()
