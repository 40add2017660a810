"""Helpers shared by the tests: real HAProxy instances, lab fixtures, strategies and fixtures."""
