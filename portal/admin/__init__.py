"""The BKD admin console: access, settings, the live dashboard, planning and data."""
