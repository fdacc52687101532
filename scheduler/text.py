"""Messages for people: Indonesian text that a page may still show in another language.

A validator's message is read in Indonesian by default (the roster's error report,
the JSON API, the logs), so it is a plain ``str``. When it is built from a template
with values (a field's label, what was typed), it also keeps the template and the
values, so a page in English can translate the template and fill it in again.
"""

from __future__ import annotations

from typing import Any


def N_(text: str) -> str:  # noqa: N802 - the conventional marker for text to translate
    """Mark ``text`` for the message catalogue without translating it here."""
    return text


class Typed(str):
    """What a person typed, quoted in a message: shown as it is in every language."""

    __slots__ = ()


class Message(str):
    """A message from a template and its values; as a ``str`` it is the Indonesian text."""

    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Message:
        made = super().__new__(cls, template % params if params else template)
        made.template = template
        made.params = params
        return made

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (RQ, caches) keep what it was made of
        return (_rebuild, (self.template, self.params))


def _rebuild(template: str, params: dict[str, Any]) -> Message:
    return Message(template, **params)


def translated(message: object, gettext: Any) -> str:
    """``message`` in the catalogue's language: templates and their labels looked up."""
    if isinstance(message, Message):
        if not message.params:
            return str(gettext(message.template))
        values = {name: gettext(value) if isinstance(value, str) and value
                  and not isinstance(value, Typed) else value
                  for name, value in message.params.items()}
        return str(gettext(message.template)) % values
    return str(gettext(str(message)))
