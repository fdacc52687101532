"""The visitor's queue: landing, joining, waiting, entering, and the public status."""
