"""Notification codes: statuses, purposes, channels and the reasons a try failed."""

from __future__ import annotations

import re

from portal.admin.durations import duration_text
from portal.admin.labels import label_of
from portal.i18n import N_
from scheduler.text import Message, Typed

STATUS_LABELS = {
    "queued": N_("Antre"),
    "sending": N_("Dikirim"),
    "sent": N_("Sudah terkirim"),
    "failed": N_("Gagal"),
    "withdrawn": N_("Ditarik"),
}
PURPOSE_LABELS = {
    "turn_opened": N_("Giliran dibuka"),
    "booking_confirmed": N_("Konfirmasi pemesanan"),
    "booking_rescheduled": N_("Pemesanan dipindah"),
    "booking_cancelled": N_("Pemesanan dibatalkan"),
    "submission_receipt": N_("Tanda terima pendaftaran"),
    "slot_assigned": N_("Jadwal dari petugas"),
    "identity_code": N_("Kode verifikasi NIK"),
    "recovery_code": N_("Kode pemulihan draf"),
    "move_code": N_("Kode pindah perangkat"),
}
CHANNEL_LABELS = {"email": N_("E-mail"), "sms": N_("SMS")}
REMINDER_PURPOSE = re.compile(r"booking_reminder_(\d+)([dhms])")
REMINDER_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
REMINDER = N_("Pengingat %(before)s sebelum slot")
# What delivery records as the last error (portal/notify), most specific first.
ERROR_PATTERNS = (
    (re.compile(r"smtp connection: (?P<detail>.+)"),
     N_("Tidak dapat terhubung ke server e-mail (%(detail)s).")),
    (re.compile(r"smtp end of data: (?P<detail>.+)"),
     N_("Sambungan ke server e-mail putus setelah pesan diserahkan (%(detail)s).")),
    (re.compile(r"smtp (?P<stage>.+) answered (?P<code>\d+)"),
     N_("Server e-mail menolak pada tahap %(stage)s dengan kode %(code)s.")),
    (re.compile(r"sms gateway unreachable: (?P<detail>.+)"),
     N_("Gerbang SMS tidak dapat dihubungi (%(detail)s).")),
    (re.compile(r"sms gateway timed out"), N_("Gerbang SMS tidak menjawab tepat waktu.")),
    (re.compile(r"sms gateway answered (?P<code>\d+)"),
     N_("Gerbang SMS menjawab dengan kode %(code)s.")),
    (re.compile(r"sms gateway: (?P<detail>.+)"), N_("Galat gerbang SMS (%(detail)s).")),
    (re.compile(r"no SMTP server configured"), N_("Server e-mail belum diatur.")),
    (re.compile(r"no SMS gateway configured"), N_("Gerbang SMS belum diatur.")),
    (re.compile(r"rate limit: no capacity in time"),
     N_("Batas laju kirim penuh; dicoba lagi nanti.")),
    (re.compile(r"lease expired \(worker stopped\)"),
     N_("Pekerja latar berhenti saat mengirim; dicoba lagi.")),
    (re.compile(r"withdrawn: subject changed"),
     N_("Tidak dikirim: pemesanannya berubah lebih dulu.")),
    (re.compile(r"SMS text contains a 16-digit number"),
     N_("Ditolak: teks SMS memuat angka 16 digit (mungkin NIK).")),
    (re.compile(r"unknown channel (?P<detail>.+)"), N_("Saluran tidak dikenal: %(detail)s.")),
    (re.compile(r"error: (?P<detail>.+)"), N_("Galat tak terduga (%(detail)s).")),
)


def status_label(code: str | None) -> str:
    """The label of a notification status."""
    return label_of(code, STATUS_LABELS)


def channel_label(code: str | None) -> str:
    """The label of a channel."""
    return label_of(code, CHANNEL_LABELS)


def purpose_label(code: str | None, lang: str) -> str:
    """The label of a purpose; reminders say how long before the slot they go."""
    reminder = REMINDER_PURPOSE.fullmatch(code or "")
    if reminder:
        seconds = int(reminder.group(1)) * REMINDER_UNITS[reminder.group(2)]
        return Message(REMINDER, before=Typed(duration_text(seconds, lang)))
    return label_of(code, PURPOSE_LABELS)


def error_label(text: str | None) -> str:
    """A delivery error as an operator reads it; an unknown one as it was recorded."""
    if not text:
        return Typed("–")
    for pattern, template in ERROR_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return Message(template, **{k: Typed(v) for k, v in found.groupdict().items()})
    return Typed(text)
