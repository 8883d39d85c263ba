"""Drivers: the parts of the core that touch the world (Docker Engine, HAProxy, git).

Each driver takes its client as an argument; nothing here creates a client behind the caller's back.
"""
