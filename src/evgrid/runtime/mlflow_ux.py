"""What a user sees in MLflow: run names, clean tags, HTML twins of plotly figures, the run summary.

Kedro-free helpers called by ``evgrid.hooks.UxHook``:

* ``run_name(pipelines, env)``: ``"ingest+grid (local)"``; the default chain reads
  ``"default: ingest+grid+gan+dwpt+dro+tariff (local)"`` instead of kedro-mlflow's ``__default__``;
* ``clean_tags(client, run_id, run_params)``: kedro-mlflow copies every ``run_params`` value as a tag; drop the
  object reprs (``runner: <...SequentialRunner object at 0x...>`` becomes ``runner: SequentialRunner``), the
  absolute ``project_path``, and join list values;
* ``model_training_view(client, experiment_id)``: tag the experiment ``mlflow.experimentKind =
  custom_model_development`` so MLflow 3 opens the runs table, not its GenAI traces view;
* ``figure_html(fig)`` / ``log_html_twin(...)``: every plotly figure saved by a dataset is also written as
  ``<file>.html`` beside its JSON and logged under the same ``artifact_path`` (MLflow renders HTML artifacts).
  Plotly.js comes from its CDN by default (small files); ``EVGRID_PLOTLY_JS=inline`` embeds it (offline viewing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
OBJECT_REPR = re.compile(r"<([\w.]+\.)?(\w+) object at 0x[0-9a-f]+>")


def run_name(pipelines: Iterable[str], env: str | None, default_chain: Iterable[str] = ()) -> str:
    names = list(pipelines) or ["__default__"]
    if names == ["__default__"]:
        chain = "+".join(default_chain)
        label = f"default: {chain}" if chain else "default"
    else:
        label = "+".join(names)
    return f"{label} ({env or 'local'})"


def tag_value(value: Any) -> str | None:
    """A readable tag value, or None for values that are not worth a tag."""
    if value in (None, "", "None", [], {}, ()):
        return None
    if isinstance(value, (list, tuple, set)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    text = str(value)
    m = OBJECT_REPR.fullmatch(text)
    if m:
        return m.group(2)
    if not isinstance(value, (str, int, float, bool)):
        return type(value).__name__
    return text


def clean_tags(client: Any, run_id: str, run_params: dict) -> None:
    """Rewrite the tags kedro-mlflow made from ``run_params`` (see module docstring)."""
    for key, value in run_params.items():
        if key == "project_path":
            client.delete_tag(run_id, key) if value else None
            continue
        if not value:
            continue
        text = tag_value(value)
        if text is None:
            client.delete_tag(run_id, key)
        elif text != str(value):
            client.set_tag(run_id, key, text)


def model_training_view(client: Any, experiment_id: str) -> None:
    exp = client.get_experiment(experiment_id)
    if (exp.tags or {}).get(EXPERIMENT_KIND_TAG) != "custom_model_development":
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, "custom_model_development")


def is_plotly_figure(data: Any) -> bool:
    mod = type(data).__module__ or ""
    return mod.startswith("plotly.") and hasattr(data, "to_html")


def figure_html(fig: Any) -> str:
    inline = os.environ.get("EVGRID_PLOTLY_JS", "cdn").lower() == "inline"
    return fig.to_html(include_plotlyjs=True if inline else "cdn", full_html=True)


def html_twin_path(filepath: str | os.PathLike) -> Path:
    return Path(str(filepath)).with_suffix(".html")


def log_html_twin(fig: Any, filepath: str | os.PathLike, artifact_path: str | None, log: bool = True) -> Path:
    """Write ``<filepath>.html`` and, when ``log``, log it to the active MLflow run under ``artifact_path``."""
    path = html_twin_path(filepath)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(figure_html(fig), encoding="utf-8")
    if log:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_artifact(str(path), artifact_path)
    return path


def ui_url(tracking_uri: str, experiment_id: str, run_id: str, host: str = "http://127.0.0.1:5000") -> str:
    """The run's page: the server itself for an http(s) store, else the local UI of ``make mlflow-ui``."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else host
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def where_next(tracking_uri: str, experiment_id: str, run_id: str, reporting_dirs: Iterable[str]) -> list[str]:
    """The closing lines of ``kedro run``: the MLflow run page and the reporting folders this run wrote."""
    lines = []
    if run_id:
        local = not tracking_uri.startswith(("http://", "https://"))
        lines.append(f"MLflow run: {ui_url(tracking_uri, experiment_id, run_id)}"
                     + ("  (start the UI with `make mlflow-ui`)" if local else ""))
    dirs = list(reporting_dirs)
    if dirs:
        shown = dirs if len(dirs) <= 6 else dirs[:5] + [f"... ({len(dirs) - 5} more)"]
        lines.append("Tables and figures: " + ", ".join(shown))
    return lines
