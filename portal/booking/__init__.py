"""Slots and bookings: the JSON API and the visitor's booking pages."""
