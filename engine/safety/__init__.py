"""GPU side: the image safety classifier that screens pictures before they are posted
outside age-restricted channels. Nothing heavy loads at import: the model loads at the
first picture that needs a check."""
