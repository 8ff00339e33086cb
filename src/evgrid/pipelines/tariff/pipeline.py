"""tariff pipeline wiring: system -> DSO sweep + responses -> tables -> paper comparison, out-of-sample, plots."""

from kedro.pipeline import Pipeline, node, pipeline

from evgrid.pipelines.tariff import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(nodes.build_coupled_system, ["params:tariff", "raw_load", "raw_weather", "raw_prices_dam"],
             ["tariff_system", "tariff_system_info", "tariff_traffic_links"], name="tariff_build_system"),
        node(nodes.solve_cases, ["tariff_system", "params:compute"], "tariff_cases", name="tariff_solve_cases"),
        node(nodes.case_tables, ["tariff_system", "tariff_cases"],
             ["tariff_tariffs", "tariff_cost_vs_gamma", "tariff_line_flows", "tariff_ev_flows",
              "tariff_station_energy", "tariff_iterations", "tariff_paths"], name="tariff_case_tables"),
        node(nodes.compare_with_paper, ["tariff_system", "tariff_cases", "tariff_cost_vs_gamma"],
             ["tariff_paper_comparison", "tariff_shape_checks"], name="tariff_compare_with_paper"),
        node(nodes.evaluate_out_of_sample, ["tariff_system", "tariff_cases"],
             ["tariff_oos_samples", "tariff_oos_summary"], name="tariff_out_of_sample"),
        node(nodes.plot_figures, ["tariff_tariffs", "tariff_cost_vs_gamma", "tariff_line_flows"],
             ["tariff_fig_tariff_heatmap", "tariff_fig_cost_vs_gamma", "tariff_fig_line_loading"],
             name="tariff_plot_figures"),
        node(nodes.log_metrics, ["tariff_paper_comparison", "tariff_shape_checks", "tariff_oos_summary"],
             "tariff_metrics", name="tariff_log_metrics"),
    ])
