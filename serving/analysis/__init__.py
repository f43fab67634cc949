"""Analyses over scored photos (per user, ...): the tables an impact analysis starts from."""
