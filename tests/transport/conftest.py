from pathlib import Path

import pytest

from evgrid.transport.tntp import read_net, read_trips

RAW = Path(__file__).resolve().parents[2] / "data" / "01_raw" / "transport"


@pytest.fixture(scope="session")
def sioux_falls():
    return read_net(RAW / "SiouxFalls_net.tntp"), read_trips(RAW / "SiouxFalls_trips.tntp")


@pytest.fixture(scope="session")
def braess():
    return read_net(RAW / "Braess_net.tntp"), read_trips(RAW / "Braess_trips.tntp")
