"""Scenario tables that name a type: ``[[policies]]`` and ``[[shocks]]``.

Schema only (pydantic): importing it never imports Mesa, networkx or the model.
"""
