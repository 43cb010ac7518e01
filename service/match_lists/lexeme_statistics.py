"""How common each word of the postings is, as PostgreSQL's statistics know it, read once every
few minutes per process: hybrid retrieval finds postings by a seeker's rarest words."""

from __future__ import annotations

import time
from typing import Any

from service.match_lists import candidates_repository as candidates_db

# ANALYZE refreshes the statistics only after a share of a table changed; reading them more
# often than this would mostly re-read the same list.
REREAD_AFTER_S = 300.0


class CommonLexemes:
    """The lexemes most postings hold, least common first (`candidates_db.common_lexemes`)."""

    def __init__(self) -> None:
        self._lexemes: list[str] = []
        self._read_at = -float("inf")

    async def read(self, conn: Any) -> list[str]:
        # An empty list (no ANALYZE yet: a new or small table) is re-read on the next search.
        if not self._lexemes or time.monotonic() - self._read_at > REREAD_AFTER_S:
            self._lexemes = await candidates_db.common_lexemes(conn)
            self._read_at = time.monotonic()
        return self._lexemes
