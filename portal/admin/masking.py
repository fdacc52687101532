"""Addresses as the console shows them: enough to recognise, too little to use."""

from __future__ import annotations


def mask_email(address: str | None) -> str | None:
    """``siti@example.id`` as ``s***@example.id``; None for no or a malformed address."""
    if not address or "@" not in address:
        return None
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}"


def mask_phone(number: str | None) -> str | None:
    """``+6281234567890`` as ``+62812****890``; short numbers keep only their last digits."""
    if not number:
        return None
    if len(number) < 10:
        return "***" + number[-2:]
    return f"{number[:6]}****{number[-3:]}"


def mask_address(channel: str, address: str | None) -> str:
    """The masked e-mail address or phone number of a message's recipient."""
    masked = mask_email(address) if channel == "email" else mask_phone(address)
    return masked or "–"
