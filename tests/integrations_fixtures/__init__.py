"""Test-only integrations, loaded by subprocesses through ANALYTICS_INTEGRATIONS."""
