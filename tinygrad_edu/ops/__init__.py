"""The engine's built-in ops, grouped by kind. Each is an ``Op`` with ``forward`` and ``backward`` together."""
