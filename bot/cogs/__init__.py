"""One feature per extension: each module here has a ``setup(bot)``."""
