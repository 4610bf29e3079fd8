"""Holds, red flags and disputes, with their lifecycle; corrections."""
