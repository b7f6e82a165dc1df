"""petbooth engine: the queue, photo intake, training and generation.

Nothing heavy is imported here: `engine.store`, `engine.intake` and `engine.settings` stay
torch-free so the bot can use them; torch and diffusers load lazily inside the training code.
"""
