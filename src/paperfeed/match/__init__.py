"""Matching papers to the people with the expertise to read them."""
