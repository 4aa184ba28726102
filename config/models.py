"""No models: this module exists so that ``post_migrate`` is sent for the ``config`` app (config.apps)."""
