"""Errors whose message is meant for the person using the demo.

Pipelines raise these with a message key and parameters (see catalogue.py); the UI shows
the sentence in the browser's language, and anything else is logged and replaced by a
generic message, never a stack trace.
"""

from catalogue import Text, message  # noqa: F401 - Text: a translatable part of a message, for pipelines


class UserFacingError(Exception):
    """A problem the user can understand (and usually fix)."""

    def __init__(self, key: str, **params):
        self.key, self.params = key, params
        super().__init__(message(key, "en", **params))

    def message(self, lang: str = "en") -> str:
        return message(self.key, lang, **self.params)


class InputError(UserFacingError, ValueError):
    """The input cannot be used: missing, unreadable, too large, wrong format."""


class ModelError(UserFacingError, RuntimeError):
    """The model failed on a valid input (out of memory, load failure, backend down)."""


class Cancelled(Exception):
    """Generation was stopped on request (Stop button or a cancelled API job)."""
