"""Running petbooth on a machine: ``supervisor`` (`petbooth run`: the bot and one engine per
GPU, restarted with backoff) and ``doctor`` (`petbooth doctor`: what is missing and how to
fix it). Torch-free."""
