"""``semlab init`` / ``semlab add``: workspaces (filled in by the dataset stage)."""
