"""Helpers shared by several features: text for people, who may touch what, safe paths."""
