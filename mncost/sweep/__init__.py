"""Sweeps over alpha x depth x resolution grids."""
