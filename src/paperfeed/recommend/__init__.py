"""Recommendations: rank new papers for a profile, and explain why."""
