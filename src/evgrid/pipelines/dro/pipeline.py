"""dro pipeline wiring: feeder, scenarios -> atoms -> radius (CV) -> first stages -> out-of-sample -> reports, plots."""

from kedro.pipeline import Pipeline, node, pipeline

from evgrid.pipelines.dro import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(nodes.load_network, "params:dro.network", "dro_network", name="dro_load_network"),
        node(nodes.prepare_scenarios,
             ["traffic_daily", "weather_daily", "price_daily", "load_daily", "traffic.scenarios", "pv.scenarios",
              "price.scenarios", "params:dro", "params:pv_system", "params:step_minutes",
              "params:split", "joint_daily", "joint.scenarios", "joint.gan_holdout_info", "price.gan_holdout_info"],
             ["dro_scenario_sets", "dro_scenario_info", "dro_split_dates"], name="dro_prepare_scenarios"),
        node(nodes.build_atoms, ["dro_network", "dro_scenario_sets", "params:dro", "params:step_minutes"],
             ["dro_atoms", "dro_support_atoms"], name="dro_build_atoms"),
        node(nodes.select_radius, ["dro_atoms", "params:dro", "params:compute"],
             ["dro_radius_selected", "dro_radius_cv", "dro_radius_cv_info"], name="dro_select_radius"),
        node(nodes.solve_methods, ["dro_atoms", "dro_radius_selected", "params:dro", "params:compute"],
             ["dro_first_stages", "dro_in_sample", "dro_worst_case_weights"], name="dro_solve_methods"),
        node(nodes.evaluate_out_of_sample,
             ["dro_first_stages", "dro_atoms", "dro_scenario_sets", "params:dro", "params:compute"],
             ["dro_recourse_summary", "dro_oos_metrics", "dro_oos_info"], name="dro_evaluate_out_of_sample"),
        node(nodes.schedule_report, ["dro_first_stages", "dro_atoms", "params:dro"],
             ["dro_unit_schedules", "dro_lane_allocations", "dro_cost_breakdown", "dro_kpis", "dro_step_results",
              "dro_lane_step_results", "dro_ac_violations", "dro_ac_summary"], name="dro_schedule_report"),
        node(nodes.log_metrics, ["dro_oos_metrics", "dro_kpis", "dro_radius_selected", "dro_scenario_info",
                                 "dro_radius_cv_info", "dro_oos_info", "dro_ac_summary"], "dro_metrics",
             name="dro_log_metrics"),
        node(nodes.run_experiment,
             ["traffic_daily", "weather_daily", "price_daily", "load_daily", "traffic.scenarios", "pv.scenarios",
              "price.scenarios", "joint_daily", "joint.scenarios", "joint.gan_holdout_info", "price.gan_holdout_info",
              "dro_network", "params:dro", "params:pv_system", "params:step_minutes", "params:split",
              "params:compute"], ["dro_experiment_days", "dro_exp_run_info"], name="dro_experiment"),
        node(nodes.report_experiment, ["dro_experiment_days", "dro_exp_run_info", "params:dro"],
             ["dro_experiment_points", "dro_experiment_paired", "dro_experiment_info", "dro_fig_experiment"],
             name="dro_experiment_report"),
        node(nodes.plot_figures, ["dro_step_results", "dro_lane_step_results", "dro_atoms", "dro_oos_metrics"],
             ["dro_fig_traffic_per_lane", "dro_fig_generation_mix", "dro_fig_lane_utilisation",
              "dro_fig_voltage_vs_load", "dro_fig_losses", "dro_fig_oos_vs_radius"], name="dro_plot_figures"),
    ])
