"""Specs: the YAML format's records, loading with extends/patch, the field values."""
