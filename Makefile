# evgrid: two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY ?= true
export MPLBACKEND ?= Agg

.PHONY: setup run test bench lint viz viz-build mlflow-ui notebook clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

viz: $(STAMP)
	$(BIN)/kedro viz run --host 127.0.0.1 --no-browser

viz-build: $(STAMP)
	$(BIN)/kedro viz build

mlflow-ui: $(STAMP)
	@$(BIN)/python -c "import mlflow; e = mlflow.MlflowClient('sqlite:///mlflow.db').get_experiment_by_name('evgrid'); print('MLflow runs table: http://127.0.0.1:5000/#/experiments/%s/runs' % (e.experiment_id if e else '0'), '' if e else '(no evgrid run yet: make run first)')"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

notebook: $(STAMP)
	$(BIN)/kedro jupyter notebook --no-browser --ip 127.0.0.1 --notebook-dir notebooks

clean:
	rm -rf $(VENV) mlruns mlflow.db .viz build
