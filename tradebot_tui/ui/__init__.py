"""The Textual app: one module per screen, widgets, themes loading."""
