"""The settings page's form as a browser posts it, with the values a test app starts with."""

from __future__ import annotations

SETTINGS_FORM = {
    "max_active": "2", "admit_per_minute": "600", "booked_share": "0.3",
    "expected_session_minutes": "20", "session_ttl_seconds": "3600",
    "idle_timeout_seconds": "900", "claim_window_seconds": "180",
    "stale_after_seconds": "120", "opens_at": "", "closes_at": "", "banner": "",
    "autocap_min_cap": "10", "autocap_max_cap": "1000", "autocap_target_p95_ms": "1500",
    "autocap_increase": "5", "autocap_decrease_factor": "0.7", "autocap_interval_seconds": "10",
    "autocap_min_samples": "5",
}
