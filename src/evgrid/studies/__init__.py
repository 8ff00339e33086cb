"""Study libraries: one package per study (config, system, model, report, plots); pipelines stay thin.

Layering: core (data, grid, scenarios, ev, der, transport, optim) <- studies/<name> <- pipelines/<name>.
Core never imports studies; studies never import each other; pipelines import only their study and core.
"""
