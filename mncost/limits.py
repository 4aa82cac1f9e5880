"""Every bound mncost puts on its inputs, in one place (docs/spec-format.md, "Limits").

A small hostile file or option must not run for minutes, exhaust memory or crash the parser,
and a number too large for exact arithmetic must be refused rather than rounded. Each limit is
far above what any real network or CI file needs, and every error that enforces one says it.
"""

from __future__ import annotations

#: Largest spec or budgets YAML file read (bytes); real specs are a few kB.
MAX_YAML_BYTES = 1 << 20
#: Largest baseline JSON file read (bytes); a baseline holds every layer of every configuration:
#: every built-in at 4 alphas x 4 resolutions (352 configurations) is 11.7 MB, under a third.
MAX_BASELINE_BYTES = 40 << 20
#: Most objects and arrays in one JSON document, and most array items and object members: what
#: the parser builds costs 60 to 200 bytes each, so a file of a few MB of ``{},{},...`` would
#: take gigabytes. A baseline at the byte limit has about 360,000 and 2,200,000.
#: Most layers ``baseline write`` records (about 220 bytes of the file each), so that what it
#: writes is a file ``check`` reads.
MAX_BASELINE_LAYERS = MAX_BASELINE_BYTES // 256
MAX_JSON_CONTAINERS = 500_000
MAX_JSON_MEMBERS = 2_500_000
#: Deepest nesting of mappings and sequences in a YAML or JSON document (checked before the
#: recursive parts of the parsers run: a spec needs about 5).
MAX_DEPTH = 64
#: Largest number of nodes a YAML document may stand for once its aliases are expanded
#: (an "alias bomb" of a few hundred bytes stands for billions).
MAX_YAML_NODES = 100_000
#: Longest integer (in digits) read from YAML, JSON or an option; Python itself stops at 4,300.
MAX_INT_DIGITS = 100
#: Largest width multiplier alpha (the papers use 0.25 to 1.4).
MAX_ALPHA = 10_000.0
#: Largest depth multiplier (repeats grow with it; the layer limit bounds the result too).
MAX_DEPTH_MULTIPLIER = 10_000.0
#: Largest input side in pixels (sizes are computed in exact integers up to it).
MAX_RESOLUTION = 10 ** 18
#: Largest integer field of a spec (channels, kernel, stride, groups, classes).
MAX_SPEC_INT = 10 ** 9
#: Largest expansion factor ``t`` of a spec row.
MAX_EXPANSION = 10_000.0
#: Most layers one sweep, or one check (its baseline and budgets), may resolve (each costs
#: about 20 us: a resolve and its costs), so its time is bounded as well as its configurations
#: (:data:`mncost.sweep.grid.MAX_CONFIGS`): about 15,000 alphas of v2, or 2,300 of
#: EfficientNet-B7.
MAX_RESOLVED_LAYERS = 1_000_000
#: Most configurations ``sweep --plot`` draws (the kept points cost memory; more are unreadable).
MAX_PLOT_POINTS = 100_000
#: Most rows one sweep writes (configurations, or layers with ``--per-layer``).
MAX_SWEEP_ROWS = 2_000_000
#: Largest number of layers one network may resolve to (n repeats included).
MAX_LAYERS = 10_000
#: Largest number of channels a resolved layer may have.
MAX_CHANNELS = 10 ** 12
#: Deepest ``extends:`` chain.
MAX_EXTENDS = 32
#: Most ``patch:`` entries in one spec (each is matched against every row).
MAX_PATCHES = 1_000
#: Most entries in a baseline or a budgets file (each is a configuration to recompute).
MAX_ENTRIES = 10_000
#: Most memory (bytes) the torch back end may allocate for one model: weights plus every
#: activation, in float32, estimated from the analytic counts before anything is built.
MAX_MODEL_BYTES = 16 << 30
#: Most threads a measurement may ask for (``--threads``): far above any machine's cores, and
#: below where threading libraries abort.
MAX_THREADS = 1024
#: Longest measuring ``calibrate --budget-s`` may ask for (seconds: a day).
MAX_CALIBRATE_S = 86_400
