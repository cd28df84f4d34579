"""Reports people read: URLs in the UI, the Evidently workspace, the labels report."""
