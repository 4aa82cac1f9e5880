"""Measurement records, torch-free: timing statistics, profile and crosscheck results."""
