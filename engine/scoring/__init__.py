"""GPU side: score every checkpoint's previews with the DreamBooth paper's metrics (DINO and
CLIP-I likeness to the owner's photos, CLIP-T fidelity to the prompt) and plot them.

Nothing heavy loads at import: ``PreviewScorer`` loads its transformers models on first use.
"""
