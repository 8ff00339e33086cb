"""parking pipeline wiring: feeder + GAN scenarios + real data -> scenarios, PV sweep, stochastic, tables, plots."""

from kedro.pipeline import Pipeline, node, pipeline

from evgrid.pipelines.parking import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(nodes.load_network, "params:parking_feeder", "parking_network", name="parking_load_network"),
        node(nodes.prepare_inputs,
             ["parking_network", "prices_primary", "load_daily", "ev_session_features", "weather_daily",
              "ev_times.scenarios", "pv.scenarios", "params:parking", "params:pv_system",
              "params:step_minutes"],
             ["parking_inputs", "parking_day_summary"], name="parking_prepare_inputs"),
        node(nodes.run_scenarios, ["parking_inputs", "params:parking", "params:compute"],
             ["parking_scenario_results", "parking_scenario_costs", "parking_schedules", "parking_hourly_detail",
              "parking_switching"], name="parking_run_scenarios"),
        node(nodes.run_pv_sweep, ["parking_inputs", "parking_scenario_results", "params:parking", "params:compute"],
             ["parking_pv_sensitivity", "parking_pv_sweep_profiles"], name="parking_run_pv_sweep"),
        node(nodes.run_stochastic, ["parking_inputs", "parking_scenario_results", "params:parking", "params:compute"],
             ["parking_heldout_days", "parking_heldout_summary", "parking_stochastic_switching"],
             name="parking_run_stochastic"),
        node(nodes.compare_with_paper, ["parking_scenario_costs", "parking_pv_sensitivity", "parking_heldout_summary"],
             ["parking_paper_comparison", "parking_metrics"], name="parking_compare_with_paper"),
        node(nodes.make_plots, ["parking_schedules", "parking_hourly_detail", "parking_pv_sweep_profiles"],
             ["parking_fig7_8_lot_profiles", "parking_fig9_losses", "parking_fig10_pv_contribution",
              "parking_fig11_pv_sweep"], name="parking_plots"),
    ])
