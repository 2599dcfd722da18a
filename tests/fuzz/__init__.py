"""Differential fuzzing of reuse across parameter sets (generate, harness, the CI test)."""
