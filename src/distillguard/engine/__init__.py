"""The one detection engine: the live (event-by-event) path shared by serve, replay and scan."""
