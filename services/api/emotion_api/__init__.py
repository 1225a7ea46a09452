"""Emotion gateway: HTTP API over the FER-2013 emotion model (embedded TF or TF Serving)."""
