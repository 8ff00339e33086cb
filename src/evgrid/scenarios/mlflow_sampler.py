"""Models-from-code entry of the scenario sampler (``evgrid.scenarios.mlflow_model``): MLflow copies this
file into the model and runs it at load time; ``set_model`` names the ``PythonModel`` it serves. The fitted
generators come from the model's ``bundle`` artifact (``ScenarioSampler.load_context``)."""

from mlflow.models import set_model

from evgrid.scenarios.mlflow_model import ScenarioSampler

set_model(ScenarioSampler())
