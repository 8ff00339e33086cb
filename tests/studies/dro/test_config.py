"""The ``dro`` block parses in every conf env, and a bad block fails once, naming every problem."""

import copy

import pytest

from evgrid.runtime.validation import ConfigError
from evgrid.studies.dro.config import DroConfig, DroConfigError, validate_params


@pytest.mark.parametrize("env", ["local", "paper", "dro_experiment"])
def test_every_env_parses(env):
    from pathlib import Path

    from kedro.config import OmegaConfigLoader

    from evgrid import settings

    conf = Path(__file__).resolve().parents[3] / "conf"
    params = OmegaConfigLoader(str(conf), **{**settings.CONFIG_LOADER_ARGS, "default_run_env": env})["parameters"]
    validate_params(params)
    cfg = DroConfig.from_params(params["dro"])
    assert cfg.solver.lp_solver == ("ipm" if env == "paper" else "choose")
    assert cfg.robust.radius == "auto" and all(isinstance(r, float) for r in cfg.robust.radii)


def test_every_problem_in_one_error(dro_params):
    bad = copy.deepcopy(dro_params)
    bad["network"]["v_min_pu"] = 1.2
    bad["robust"]["radius"] = "big"
    bad["robust"]["cv_score"] = "median"
    bad["scenarios"]["n_nominal"] = 99
    bad["experiment"]["conditions"] = ["winter"]
    bad["evaluation"]["oos_batch"] = 0
    del bad["solver"]["lp_solver"]
    bad["ev"]["ev_shar"] = 0.3
    with pytest.raises(DroConfigError) as err:
        DroConfig.from_params(bad)
    paths = [path for path, _ in err.value.problems]
    assert paths == ["dro.network.v_min_pu", "dro.ev.ev_shar", "dro.scenarios.n_nominal", "dro.robust.radius",
                     "dro.robust.cv_score", "dro.evaluation.oos_batch", "dro.solver.lp_solver",
                     "dro.experiment.conditions"]
    msg = str(err.value)
    assert msg.startswith("8 invalid parameters") and isinstance(err.value, ConfigError)
    assert "dro.ev.ev_shar: unknown key; did you mean 'ev_share'?" in msg
    assert "dro.solver.lp_solver: is required but missing" in msg
    assert "dro.scenarios.n_nominal: must be <= dro.scenarios.n_train_days (40), got 99" in msg


def test_validate_params_adds_the_cv_grid_and_the_pv_system(dro_params):
    bad = {**dro_params, "robust": {**dro_params["robust"], "radii": [0.0, -0.1]}}
    with pytest.raises(DroConfigError) as err:
        validate_params({"dro": bad, "pv_system": {"tilt_deg": 35.0}})
    paths = [path for path, _ in err.value.problems]
    assert paths[:2] == ["dro.robust.radii", "dro.robust.radii"] and paths[2].startswith("pv_system.")
