"""``ingest`` pipeline: raw files -> primary (validated, tz-aware UTC + local) -> daily features + quality."""

from kedro.pipeline import Node, Pipeline

from evgrid.pipelines.ingest import nodes


def create_pipeline(**kwargs) -> Pipeline:
    step = "params:step_minutes"
    return Pipeline(
        [
            Node(nodes.ingest_prices, ["raw_prices_rt", "raw_prices_dam", "params:ingest.prices"],
                 ["prices_primary", "ingest_quality_prices"], name="ingest_prices"),
            Node(nodes.ingest_load, ["raw_load", "params:ingest.load"],
                 ["load_primary", "ingest_quality_load"], name="ingest_load"),
            Node(nodes.ingest_ev_sessions, ["raw_ev_acn", "raw_ev_council", "params:ingest.ev_sessions"],
                 ["ev_sessions_primary", "ingest_quality_ev_sessions"], name="ingest_ev_sessions"),
            Node(nodes.ingest_traffic, ["raw_traffic", "params:ingest.traffic"],
                 ["traffic_primary", "ingest_quality_traffic"], name="ingest_traffic"),
            Node(nodes.ingest_weather, ["raw_weather", "params:ingest.weather"],
                 ["weather_primary", "ingest_quality_weather"], name="ingest_weather"),
            Node(nodes.price_features, ["prices_primary", "params:ingest.prices", step],
                 ["price_daily", "ingest_quality_price_daily"], name="price_daily_features"),
            Node(nodes.load_features, ["load_primary", "params:ingest.load", step],
                 ["load_daily", "ingest_quality_load_daily"], name="load_daily_features"),
            Node(nodes.traffic_features, ["traffic_primary", "params:ingest.traffic", step],
                 ["traffic_daily", "ingest_quality_traffic_daily"], name="traffic_daily_features"),
            Node(nodes.weather_features, ["weather_primary", "params:ingest.weather", step],
                 ["weather_daily", "ingest_quality_weather_daily"], name="weather_daily_features"),
            Node(nodes.joint_features, ["traffic_daily", "weather_daily", "params:ingest.joint", step],
                 ["joint_daily", "ingest_quality_joint_daily"], name="joint_daily_features"),
            Node(nodes.ev_features, "ev_sessions_primary", "ev_session_features", name="ev_session_features"),
            Node(
                nodes.data_quality_report,
                ["ingest_quality_prices", "ingest_quality_load", "ingest_quality_ev_sessions",
                 "ingest_quality_traffic", "ingest_quality_weather", "ingest_quality_price_daily",
                 "ingest_quality_load_daily", "ingest_quality_traffic_daily", "ingest_quality_weather_daily",
                 "ingest_quality_joint_daily"],
                ["ingest_data_quality", "ingest_quality_metrics"],
                name="ingest_data_quality_report",
            ),
        ],
        tags=["ingest"],
    )
