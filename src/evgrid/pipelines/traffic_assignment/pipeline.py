"""traffic_assignment: TNTP files (paths in parameters) -> single-class UE -> link flows, gap history."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.run_traffic_assignment, "params:traffic_assignment",
                 ["ue_link_flows", "ue_history", "ue_summary"], name="traffic_assignment_ue"),
            node(nodes.ue_metrics, "ue_summary", "ue_metrics", name="traffic_assignment_metrics"),
        ]
    )
