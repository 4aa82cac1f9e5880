"""Analytic costs: the kind registry, MACs/params, conventions, memory, roofline."""
