"""planning: system -> upper level (surrogate / random / uniform) -> tables, AC check, EV-share sweep, plots."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

FIGURES = ["convergence", "capacity", "social_cost", "link_flows", "station_loads", "voltages", "nodal_prices",
           "ev_share"]


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.build_planning_system, ["params:planning", "traffic_daily", "load_daily"], "planning_system",
                 name="planning_build_system"),
            node(nodes.optimise_capacities, ["planning_system", "params:compute"], "planning_search", name="planning_optimise"),
            node(nodes.summarise_plans, ["planning_system", "planning_search"],
                 ["planning_capacity_plan", "planning_social_cost", "planning_convergence",
                  "planning_search_comparison", "planning_landscape"], name="planning_summarise"),
            node(nodes.detail_optimised_plan, ["planning_system", "planning_search"],
                 ["planning_link_flows", "planning_station_loads", "planning_voltages", "planning_nodal_prices",
                  "planning_fixed_point", "planning_ac_summary"], name="planning_detail"),
            node(nodes.sweep_ev_share, ["planning_system", "planning_search"], "planning_ev_share_sweep",
                 name="planning_ev_share_sweep"),
            node(nodes.v2g_variant, ["planning_system", "planning_search"],
                 ["planning_v2g", "planning_v2g_schedule"], name="planning_v2g"),
            node(nodes.planning_metrics, ["planning_search", "planning_social_cost", "planning_fixed_point",
                                          "planning_ac_summary", "planning_search_comparison"], "planning_metrics",
                 name="planning_metrics"),
            node(nodes.planning_figures,
                 ["planning_system", "planning_capacity_plan", "planning_social_cost", "planning_convergence",
                  "planning_link_flows", "planning_station_loads", "planning_voltages", "planning_nodal_prices",
                  "planning_ev_share_sweep"],
                 [f"planning_fig_{f}" for f in FIGURES], name="planning_figures"),
        ]
    )
