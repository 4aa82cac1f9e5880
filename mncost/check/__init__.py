"""Regression checks: baselines, budgets, their results, units and tolerances."""
