"""Flamethrower's instructor tooling: handout generation and checking (and, later, grading)."""
