"""``kedro run --pipelines=grid``: feeder -> AC + LinDistFlow base cases -> profile parquet, plot, metrics."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.load_grid_feeder, "params:grid.feeder", ["grid_network", "grid_feeder_summary"],
                 name="grid_load_feeder"),
            node(nodes.run_ac_base_case, "grid_network", ["grid_ac_base_case", "grid_ac_totals"],
                 name="grid_ac_base_case"),
            node(nodes.run_lindistflow_base_case,
                 ["grid_network", "params:grid.lindistflow", "params:grid.solver"],
                 "grid_lindistflow_base_case", name="grid_lindistflow_base_case"),
            node(nodes.compare_voltage_profiles,
                 ["grid_network", "grid_ac_base_case", "grid_lindistflow_base_case"],
                 "grid_voltage_profile", name="grid_compare_voltage_profiles"),
            node(nodes.grid_metrics,
                 ["grid_network", "grid_ac_totals", "grid_voltage_profile"], "grid_metrics", name="grid_metrics"),
            node(nodes.plot_voltage_profiles, "grid_voltage_profile", "grid_voltage_profile_plot",
                 name="grid_plot_voltage_profiles"),
            node(nodes.check_ac_of_lindistflow, ["grid_network", "grid_voltage_profile"], "grid_base_case_violations",
                 name="grid_base_case_violations"),
        ]
    )
