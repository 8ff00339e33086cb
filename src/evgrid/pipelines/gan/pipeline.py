"""The ``gan`` pipeline: one modular template per scenario family (Kedro namespace = family name).

Template (inputs ``features``, ``params:family``, the shared ``params:pv_system``; outputs ``<family>.<name>``):
build_training_data -> evaluate_generators (dated split, validation choice, temporal holdout) ->
sample_scenarios -> register_generators (MLflow models, registry) and plot_family. A final node gathers every family's holdout info into
``gan_holdout_summary`` and ``gan_holdout_report``.
"""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, node, pipeline

from evgrid.scenarios.plots import PLOT_KINDS

from .nodes import (
    build_training_data,
    evaluate_generators,
    plot_family,
    register_generators,
    sample_scenarios,
    summarise_holdout,
)

# family -> feature dataset it is trained on (the DAG's structure; the settings live in parameters_gan.yml)
FAMILIES = {
    "pv": "weather_daily",
    "traffic": "traffic_daily",
    "price": "price_daily",
    "joint": "joint_daily",
    "ev_times": "ev_session_features",
    "ev_distance": "ev_session_features",
}


def _bind_family(family: str):
    fn = partial(build_training_data, family=family)
    return update_wrapper(fn, build_training_data)


def family_template(family: str) -> Pipeline:
    """The per-family template (un-namespaced names)."""
    return Pipeline([
        node(_bind_family(family), ["features", "params:family", "params:gan", "params:step_minutes",
                                    "params:pv_system"], "gan_training_data", name="build_training_data"),
        node(evaluate_generators, ["gan_training_data", "params:family", "params:gan", "params:split",
                                   "params:compute"],
             ["gan_holdout_scores", "gan_holdout_info", "gan_model"], name="evaluate_generators"),
        node(sample_scenarios, ["gan_model", "gan_training_data", "params:family", "params:gan"],
             "scenarios", name="sample_scenarios"),
        node(register_generators, ["gan_model", "gan_training_data", "scenarios", "gan_holdout_info", "params:family",
                                   "params:gan"], "scenario_model", name="register_generators"),
        node(plot_family, ["gan_training_data", "gan_model", "scenarios", "gan_holdout_info"],
             [f"gan_plot_{kind}" for kind in PLOT_KINDS], name="plot_family"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    families = kwargs.get("families", FAMILIES)
    pipes = Pipeline([])
    for family, dataset in families.items():
        pipes += pipeline(
            family_template(family),
            namespace=family,
            inputs={"features": dataset},
            parameters={"params:family": f"params:gan.families.{family}", "params:gan": "params:gan",
                        "params:step_minutes": "params:step_minutes", "params:split": "params:split",
                        "params:compute": "params:compute", "params:pv_system": "params:pv_system"},
        )
    summary_inputs = [f"{family}.gan_holdout_info" for family in families]
    with warnings.catch_warnings():  # the namespaced inputs "<family>.gan_holdout_info" are meant to be dotted
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        pipes += Pipeline([Node(summarise_holdout, summary_inputs, ["gan_holdout_summary", "gan_holdout_report"],
                                name="gan_summarise_holdout")])
    return pipes
