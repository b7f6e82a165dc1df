"""petbooth Discord front end (never imports torch)."""
