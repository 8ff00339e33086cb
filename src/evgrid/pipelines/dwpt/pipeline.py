"""DWPT pipeline wiring: feeder, inputs -> EV load -> DER sizing -> all cases -> AC check, tables, plots, metrics."""

from kedro.pipeline import Pipeline, node, pipeline

from evgrid.pipelines.dwpt import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([
        node(nodes.load_network, "params:dwpt.network", "dwpt_network", name="dwpt_load_network"),
        node(nodes.select_day_inputs,
             ["traffic_daily", "weather_daily", "load_daily", "prices_primary", "params:dwpt"],
             "dwpt_day_inputs", name="dwpt_select_day_inputs"),
        node(nodes.simulate_ev_load, ["dwpt_day_inputs", "params:dwpt"], ["dwpt_ev_load", "dwpt_ev_fleet"],
             name="dwpt_simulate_ev_load"),
        node(nodes.size_der, ["dwpt_day_inputs", "dwpt_ev_load", "params:dwpt"],
             ["dwpt_der_profile", "dwpt_der_sizing"], name="dwpt_size_der"),
        node(nodes.build_day,
             ["dwpt_network", "dwpt_day_inputs", "dwpt_ev_load", "dwpt_der_profile", "dwpt_der_sizing", "params:dwpt"],
             "dwpt_day", name="dwpt_build_day"),
        node(nodes.solve_cases, ["dwpt_network", "dwpt_day", "params:dwpt", "params:compute"],
             ["dwpt_system_schedule", "dwpt_dg_schedule", "dwpt_bus_schedule", "dwpt_costs", "dwpt_net_load"],
             name="dwpt_solve_cases"),
        node(nodes.validate_and_correct_ac,
             ["dwpt_network", "dwpt_day", "dwpt_costs", "params:dwpt", "params:compute"],
             ["dwpt_ac_validation", "dwpt_ac_summary", "dwpt_ac_corrected_costs", "dwpt_ac_corrected_system_schedule"],
             name="dwpt_validate_and_correct_ac"),
        node(nodes.compare_with_paper, ["dwpt_costs", "dwpt_ac_corrected_costs", "params:dwpt"],
             ["dwpt_normal_comparison", "dwpt_outage_comparison", "dwpt_shedding_comparison", "dwpt_case_metrics"],
             name="dwpt_compare_with_paper"),
        node(nodes.ev_metrics, ["dwpt_ev_load", "dwpt_der_sizing"], "dwpt_ev_metrics", name="dwpt_ev_metrics"),
        node(nodes.plot_loads_and_prices, ["dwpt_system_schedule", "dwpt_ev_load", "params:dwpt"], "dwpt_fig3_loads_prices",
             name="dwpt_plot_fig3"),
        node(nodes.plot_upstream, ["dwpt_system_schedule", "params:dwpt"], "dwpt_fig4_5_upstream",
             name="dwpt_plot_fig4_5"),
        node(nodes.plot_shedding, ["dwpt_system_schedule", "params:dwpt"], "dwpt_fig6_shedding",
             name="dwpt_plot_fig6"),
        node(nodes.plot_battery, ["dwpt_system_schedule", "params:dwpt"], "dwpt_fig_battery",
             name="dwpt_plot_battery"),
    ])
