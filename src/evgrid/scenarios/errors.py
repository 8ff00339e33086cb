"""Errors raised by the scenario-generation library (clear messages naming the family and the problem)."""


class ScenarioDataError(ValueError):
    """Input data cannot be used to train or validate a scenario model (NaNs, too few units, no label)."""
