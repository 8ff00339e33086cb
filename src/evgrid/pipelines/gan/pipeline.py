"""The ``gan`` pipeline: one modular template per scenario family (Kedro namespace = family name).

Template (inputs ``features``, ``params:family``; outputs ``<family>.<name>``):
build_training_data -> cross_validate_family -> fit_final_model -> sample_scenarios -> plot_family.
A final node gathers every family's CV scores into ``gan_cv_summary`` and ``gan_cv_report``.
"""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, node, pipeline

from .nodes import (
    build_training_data,
    cross_validate_family,
    fit_final_model,
    plot_family,
    sample_scenarios,
    summarise_cv,
)

# family -> feature dataset it is trained on (the DAG's structure; the settings live in parameters_gan.yml)
FAMILIES = {
    "pv": "weather_daily",
    "traffic": "traffic_daily",
    "price": "price_daily",
    "ev_times": "ev_session_features",
    "ev_distance": "ev_session_features",
}


def _bind_family(family: str):
    fn = partial(build_training_data, family=family)
    return update_wrapper(fn, build_training_data)


def family_template(family: str) -> Pipeline:
    """The per-family template (un-namespaced names)."""
    return Pipeline([
        node(_bind_family(family), ["features", "params:family", "params:gan", "params:step_minutes"],
             "gan_training_data", name="build_training_data"),
        node(cross_validate_family, ["gan_training_data", "params:family", "params:gan"],
             ["gan_cv_scores", "gan_cv_info"], name="cross_validate"),
        node(fit_final_model, ["gan_training_data", "params:family", "params:gan", "gan_cv_info"],
             "gan_model", name="fit_final_model"),
        node(sample_scenarios, ["gan_model", "gan_training_data", "params:family", "params:gan"],
             "scenarios", name="sample_scenarios"),
        node(plot_family, ["gan_training_data", "gan_model", "scenarios", "gan_cv_info"],
             "gan_plots", name="plot_family"),
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
                        "params:step_minutes": "params:step_minutes"},
        )
    summary_inputs = ["params:gan"]
    for family in families:
        summary_inputs += [f"{family}.gan_cv_scores", f"{family}.gan_cv_info"]
    with warnings.catch_warnings():  # the namespaced inputs "<family>.gan_cv_scores" are meant to be dotted
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        pipes += Pipeline([Node(summarise_cv, summary_inputs, ["gan_cv_summary", "gan_cv_report"],
                                name="gan_summarise_cv")])
    return pipes
