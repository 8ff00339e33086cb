"""Atomic writes: a reader sees the old file or the new one, never a partial one (issue 15, observation 1)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import MemoryDataset
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.pickle import PickleDataset

from evgrid.runtime.atomic import AtomicFileSystem, atomic_write, make_atomic


def test_atomic_write_publishes_on_close_and_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_write(target, "w", encoding="utf-8") as f:
        f.write("first")
    assert target.read_text() == "first"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # like a plain open()
    with pytest.raises(RuntimeError), atomic_write(target, "w", encoding="utf-8") as f:
        f.write("half of the seco")
        raise RuntimeError("node crashed mid-write")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]  # no temporary left behind


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@pytest.mark.parametrize("cls,data,name", [
    (ParquetDataset, pd.DataFrame({"p_kw": [1.0, 2.0]}), "a.parquet"),
    (CSVDataset, pd.DataFrame({"p_kw": [1.0, 2.0]}), "a.csv"),
    (JSONDataset, {"v_min_pu": 0.95}, "a.json"),
    (PickleDataset, {"model": [1, 2, 3]}, "a.pkl"),
])
def test_make_atomic_wraps_every_local_file_dataset_and_round_trips(tmp_path, cls, data, name):
    ds = cls(filepath=str(tmp_path / name))
    assert make_atomic(ds) and isinstance(ds._fs, AtomicFileSystem)
    assert make_atomic(ds)  # idempotent
    ds.save(data)
    loaded = ds.load()
    if isinstance(data, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, data)
    else:
        assert loaded == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_make_atomic_leaves_non_file_datasets_alone():
    assert not make_atomic(MemoryDataset())


WRITER = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    from kedro_datasets.pandas import ParquetDataset
    from evgrid.runtime.atomic import make_atomic
    ds = ParquetDataset(filepath=sys.argv[1]); make_atomic(ds)
    frames = [pd.DataFrame({"x": np.full(200_000, float(k))}) for k in (1, 2)]
    for i in range(int(sys.argv[2])):
        ds.save(frames[i % 2])
""")
READER = textwrap.dedent("""
    import sys, time, pandas as pd
    from kedro_datasets.pandas import ParquetDataset
    ds = ParquetDataset(filepath=sys.argv[1])
    bad, n, t0 = 0, 0, time.time()
    while time.time() - t0 < float(sys.argv[2]):
        try:
            x = ds.load()["x"]
            assert len(x) == 200_000 and x.nunique() == 1 and x.iloc[0] in (1.0, 2.0)
        except Exception as err:
            bad += 1; print("BAD", type(err).__name__, str(err)[:120])
        n += 1
    print("READS", n, "BAD", bad)
""")


def test_concurrent_writer_never_exposes_a_partial_file_to_a_reader(tmp_path):
    """Two processes: one saves a 1.6 MB parquet 40 times, one loads it in a loop meanwhile."""
    path = tmp_path / "voltage_profile.parquet"
    pd.DataFrame({"x": [1.0] * 200_000}).to_parquet(path)
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    w = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "40"], env=env)
    r = subprocess.run([sys.executable, "-c", READER, str(path), "6"], env=env, capture_output=True, text=True,
                       timeout=120)
    assert w.wait(timeout=120) == 0
    assert r.returncode == 0, r.stderr[-2000:]
    assert "BAD 0" in r.stdout and "READS 0" not in r.stdout, r.stdout[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["voltage_profile.parquet"]
