"""How much of the platform's free text is kept and shown: messages can be long and say the same thing again.

A condition message, a `CreateFailedReason` or an event message may be anything up to the size of an
answer (a megabyte is not unheard of), and they are kept from one poll to the next (the events cache holds
them for minutes) although only `MAX_TEXT` characters are ever shown. They are cut when read, so a fleet
of long messages costs what is shown, not what was sent.

What is kept reaches past what is shown (`KEPT_TEXT`): known secrets and credentials are scrubbed when the
text is shown, and one that begins before the end of the shown part must still be whole to be recognised.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

MAX_TEXT = 1000
"""Characters of one message shown (on the status page and in `/api/v1/attention`)."""
KEPT_TEXT = 2 * MAX_TEXT
"""Characters of one message kept: what is shown, and as much again for the scrubber to see past its end."""


def kept(text: str | None) -> str | None:
    """`text` cut to `KEPT_TEXT` characters (None stays None)."""
    return text if text is None or len(text) <= KEPT_TEXT else text[:KEPT_TEXT]


KeptText = Annotated[str | None, AfterValidator(kept)]
"""A free-text field of a pydantic model, cut to `KEPT_TEXT` when validated."""
