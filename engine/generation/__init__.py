"""/imagine on the GPU: the resident SDXL pipeline shared with training, the LoRA slot it
hot-swaps pets into, long prompts, and the ``generate`` job runner (``job``), which also
serves pictures between a training's optimizer steps (``between_steps``).

Imports torch and diffusers in its submodules: only the engine process imports them."""
