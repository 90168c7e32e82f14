"""Monitoring assets (alert rules, dashboards, SQL) and the pure builders that render them per stack."""
