"""parking study (paper 004 sections IV-V): config, system, model, report, runs, plots."""
