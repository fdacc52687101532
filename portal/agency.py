"""Who runs the registration: the agency's name, logo and helpdesk, as settings.

Every page, message, receipt and calendar file names the agency from here, so a
province deploys its own name without touching a template. The logo is a file the
operator provides (SVG or PNG); without one the portal shows its own plain mark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.environment import Environment, SettingsError

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_LOGO = STATIC_DIR / "logo.svg"
LOGO_TYPES = {".svg": "image/svg+xml", ".png": "image/png"}
MAX_LOGO_BYTES = 256 * 1024


@dataclass(frozen=True)
class Agency:
    """The agency's public identity (the defaults are for trying the portal out)."""

    name: str = "Badan Kepegawaian Daerah"
    short_name: str = "BKD"
    registration: str = "Pendataan Tenaga Non-ASN"
    logo: Path = DEFAULT_LOGO
    helpdesk_phone: str = ""
    helpdesk_email: str = ""
    helpdesk_hours: str = ""
    address: str = ""

    @property
    def logo_type(self) -> str:
        """The logo's media type."""
        return LOGO_TYPES[self.logo.suffix.lower()]

    @property
    def has_helpdesk(self) -> bool:
        """Whether any way to reach the helpdesk is set."""
        return bool(self.helpdesk_phone or self.helpdesk_email)

    @classmethod
    def read(cls, env: Environment) -> Agency:
        """Read ANTREAN_AGENCY_*, ANTREAN_REGISTRATION_NAME and ANTREAN_HELPDESK_*."""
        defaults = cls()
        logo = Path(env.text("AGENCY_LOGO") or defaults.logo)
        if logo.suffix.lower() not in LOGO_TYPES:
            raise SettingsError("ANTREAN_AGENCY_LOGO must be an .svg or .png file")
        try:
            size = logo.stat().st_size
        except OSError as exc:
            raise SettingsError(f"ANTREAN_AGENCY_LOGO cannot be read: {logo}") from exc
        if size > MAX_LOGO_BYTES:
            raise SettingsError(f"ANTREAN_AGENCY_LOGO is larger than {MAX_LOGO_BYTES // 1024} KB; "
                                "pages load it on slow mobile data")

        def text(name: str, default: str) -> str:
            return " ".join((env.text(name) or default).split())

        return cls(
            name=text("AGENCY_NAME", defaults.name),
            short_name=text("AGENCY_SHORT_NAME", defaults.short_name),
            registration=text("REGISTRATION_NAME", defaults.registration),
            logo=logo,
            helpdesk_phone=text("HELPDESK_PHONE", ""),
            helpdesk_email=text("HELPDESK_EMAIL", ""),
            helpdesk_hours=text("HELPDESK_HOURS", ""),
            address=text("AGENCY_ADDRESS", ""),
        )


def calendar_title(agency: Agency) -> str:
    """What a calendar shows for a booked slot: ``Jadwal Pendataan Tenaga Non-ASN · BKD``."""
    return f"Jadwal {agency.registration} · {agency.short_name}"
