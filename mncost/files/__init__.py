"""Files: bounded reading, whole-or-nothing writing, YAML with line numbers."""
