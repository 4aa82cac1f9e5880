"""The published configurations of the built-ins (``configs/zoo``): what the papers and model
zoos print for each (top-1, MACs, parameters, latency on the devices they measured), read and
checked against mncost's own count, and the rows of ``mncost zoo``.

* :mod:`.data`: the source files, read and validated (:func:`load_zoo`);
* :mod:`.printed`: each printed MACs / parameter figure reproduced from mncost's count, under
  the conventions its row names;
* :mod:`.rows`: the rows of ``mncost zoo``: counted, filtered, with predicted or published
  latency, and their Pareto front.

A layer above :mod:`mncost.latency` (it predicts with device profiles) and below the torch
back end: nothing here imports torch or numpy.
"""

from __future__ import annotations

from .data import PENDING_MODELS, Published, Zoo, load_zoo
from .rows import ZOO_SCHEMA, Filters, LatencySource, ZooResult, pareto_flags, zoo_rows

__all__ = ["PENDING_MODELS", "Published", "Zoo", "load_zoo", "ZOO_SCHEMA", "Filters",
           "LatencySource", "ZooResult", "pareto_flags", "zoo_rows"]
