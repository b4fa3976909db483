"""Checks the test-suite runs over the code base itself."""
