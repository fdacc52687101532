"""The audit log's codes: what was done, which setting changed, and its values readable.

Entries keep values as they were stored (epoch seconds, seconds, booleans); here
they become what an operator reads: labelled times in the registration's zone,
durations in words, yes or no.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from portal.admin.durations import duration_text
from portal.admin.labels import label_of
from portal.admin.labels.notifications import status_label
from portal.admin.labels.roles import role_label
from portal.i18n import N_, format_number
from portal.times import local_time
from scheduler.text import Typed

ACTION_LABELS = {
    "login": N_("Masuk"),
    "login.failed": N_("Gagal masuk"),
    "login.locked": N_("Masuk ditahan (terlalu banyak percobaan)"),
    "logout": N_("Keluar"),
    "settings.update": N_("Pengaturan diubah"),
    "calendar.update": N_("Kalender diubah"),
    "user.create": N_("Pengguna dibuat"),
    "user.role": N_("Peran pengguna diganti"),
    "user.activate": N_("Pengguna diaktifkan"),
    "user.deactivate": N_("Pengguna dinonaktifkan"),
    "user.reset": N_("Kata sandi pengguna dibuat ulang"),
    "token.create": N_("Token API dibuat"),
    "token.revoke": N_("Token API dicabut"),
    "notification.requeue": N_("Notifikasi dikirim ulang"),
    "identity.rebind": N_("NIK dipindahkan ke kontak lain"),
    "identity.dismiss": N_("Klaim identitas diabaikan"),
    "roster.import": N_("Daftar pegawai diimpor"),
    "roster.schedule": N_("Peserta dijadwalkan"),
    "export": N_("Data diekspor"),
}
FIELD_LABELS = {
    "max_active": N_("Batas pengguna aktif (cap)"),
    "admit_per_minute": N_("Masuk per menit"),
    "session_ttl_seconds": N_("Umur sesi"),
    "idle_timeout_seconds": N_("Batas diam"),
    "claim_window_seconds": N_("Waktu untuk masuk setelah dipanggil"),
    "booked_share": N_("Porsi untuk pemesan slot (0–1)"),
    "stale_after_seconds": N_("Penunggu dianggap pergi setelah"),
    "return_grace_seconds": N_("Tenggang kembali ke antrean"),
    "expected_session_minutes": N_("Lama sesi rata-rata"),
    "paused": N_("Penerimaan dijeda"),
    "opens_at": N_("Waktu buka"),
    "closes_at": N_("Waktu tutup"),
    "fail_open": N_("Tanpa antrean saat Redis mati"),
    "banner": N_("Pengumuman publik"),
    "autocap_enabled": N_("Batas otomatis aktif"),
    "autocap_min_cap": N_("Batas bawah"),
    "autocap_max_cap": N_("Batas atas"),
    "autocap_target_p95_ms": N_("Target p95 (ms)"),
    "autocap_increase": N_("Penambahan per langkah"),
    "autocap_decrease_factor": N_("Faktor pengurangan"),
    "autocap_interval_seconds": N_("Selang keputusan"),
    "autocap_min_samples": N_("Sampel minimal per keputusan"),
    "window_start": N_("Awal jendela pendaftaran"),
    "window_end": N_("Akhir jendela pendaftaran"),
    "timezone": N_("Zona waktu"),
    "slot_minutes": N_("Panjang slot"),
    "working_plan": N_("Jam buka per hari"),
    "holiday_weight": N_("Bobot hari libur (0–10)"),
    "extra_holidays": N_("Libur tambahan"),
    "removed_holidays": N_("Libur yang dihapus"),
    "min_notice_minutes": N_("Pemberitahuan minimal sebelum slot"),
    "weight_overrides": N_("Bobot per tanggal"),
    "planned_max_active": N_("Batas pengguna aktif yang direncanakan"),
    "planned_booked_share": N_("Porsi untuk pemesan slot (0–1)"),
    "planned_session_minutes": N_("Lama sesi rata-rata"),
    "assign_start": N_("Mulai jam penjadwalan otomatis"),
    "assign_end": N_("Selesai jam penjadwalan otomatis"),
    "role": N_("Peran"),
    "active": N_("Aktif"),
    "revoked": N_("Dicabut"),
    "password": N_("Kata sandi"),
    "status": N_("Status"),
    "contact": N_("Kontak"),
    "id": N_("Nomor"),
    "requeued": N_("Dikirim ulang"),
    "rows": N_("Baris dibaca"),
    "inserted": N_("Baru"),
    "updated": N_("Diperbarui"),
    "unchanged": N_("Tidak berubah"),
    "bad": N_("Ditolak"),
    "import": N_("Nomor impor"),
    "registrants": N_("Peserta terdaftar"),
    "assigned": N_("Terjadwal"),
    "unassigned": N_("Belum terjadwal"),
    "notify": N_("Peserta diberi tahu"),
    "shortfall_places": N_("Kekurangan tempat"),
    "batch": N_("ID kiriman massal"),
}
EPOCH_FIELDS = frozenset({"opens_at", "closes_at"})
ISO_TIME_FIELDS = frozenset({"window_start", "window_end"})
SECONDS_FIELDS = frozenset({"session_ttl_seconds", "idle_timeout_seconds",
                            "claim_window_seconds", "stale_after_seconds",
                            "return_grace_seconds", "autocap_interval_seconds"})
MINUTES_FIELDS = frozenset({"expected_session_minutes", "slot_minutes", "min_notice_minutes",
                            "planned_session_minutes"})
NOT_SET = N_("tidak ditetapkan")
YES, NO = N_("ya"), N_("tidak")
HIDDEN, CHANGED = N_("(disembunyikan)"), N_("(diganti)")


def action_label(code: str | None) -> str:
    """The label of an audited action."""
    return label_of(code, ACTION_LABELS)


def field_label(name: str) -> str:
    """The label of an audited field."""
    return label_of(name, FIELD_LABELS)


def value_text(name: str, value: Any, tz: ZoneInfo, lang: str) -> str:
    """One stored value as the log shows it (a label to translate, or text as it is)."""
    if value is None:
        return Typed("–")
    if name == "password":
        return HIDDEN if value == "***" else CHANGED
    if isinstance(value, bool):
        return YES if value else NO
    if name in EPOCH_FIELDS and isinstance(value, int | float):
        if not value:
            return NOT_SET
        return Typed(local_time(dt.datetime.fromtimestamp(value, dt.UTC), tz, locale=lang))
    if name in ISO_TIME_FIELDS and isinstance(value, str):
        try:
            return Typed(local_time(dt.datetime.fromisoformat(value), tz, locale=lang))
        except ValueError:
            return Typed(value)
    if name in SECONDS_FIELDS and isinstance(value, int | float):
        return Typed(duration_text(value, lang))
    if name in MINUTES_FIELDS and isinstance(value, int | float):
        return Typed(duration_text(value * 60, lang))
    if name == "role":
        return role_label(str(value))
    if name == "status":
        return status_label(str(value))
    if isinstance(value, int | float):
        return Typed(format_number(value, lang))
    if isinstance(value, dict | list):
        return Typed(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))
    return Typed(str(value))


def changed_lines(values: Mapping[str, Any] | None, tz: ZoneInfo,
                  lang: str) -> list[tuple[str, str]]:
    """(field label, value) for each audited value, in the stored order."""
    if not values:
        return []
    return [(field_label(name), value_text(name, value, tz, lang))
            for name, value in values.items()]
