"""Settings and other process-wide plumbing."""
