"""Destinations for the scheduled export, one module each.

A module here registers its callbacks with ``hooks.add_action`` /
``hooks.add_filter`` when imported, exactly like the documented PHP examples.
"""
