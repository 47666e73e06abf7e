"""Alerts: a report reaches the contacts responsible for its place, climbs when nobody answers."""
