"""The run context: what the command line and the settings decided, fixed once for a command."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from conversation_utils import ConversationStore
from env import EmbeddingSettings, FreshdeskSettings, LLMSettings, Settings, ZendeskSettings
from errors import ConfigError
from issue_clusterer import SideFiles

# Which TicketSource a command opens (ticket_sources.SOURCES).
SourceKind = Literal["freshdesk", "zendesk", "file", "cache", "demo"]
# Where a DB's tickets come from, which decides its conversation folder; a --from-cache run reads the
# folder of the desk its DB was built from. Ticket ids of two desks would collide, so each has its own.
DeskKind = Literal["freshdesk", "zendesk", "file", "demo"]
ClassifierKind = Literal["llm", "embedding"]

CONVERSATIONS_DIR = Path("conversations")
DEMO_CONVERSATIONS_DIR = CONVERSATIONS_DIR / "demo"
# Freshdesk's conversations stay at the top of conversations/, where every earlier version kept them.
DESK_DIRS: dict[str, Path] = {
    "freshdesk": CONVERSATIONS_DIR,
    "zendesk": CONVERSATIONS_DIR / "zendesk",
    "file": CONVERSATIONS_DIR / "file",
    "demo": DEMO_CONVERSATIONS_DIR,
}
EMBEDDING_CACHE_DIR = Path(".cache") / "embeddings"


@dataclass(frozen=True)
class RunContext:
    """Settings already checked for the chosen mode, paths, and the knobs every stage reads."""

    settings: Settings
    files: SideFiles
    store: ConversationStore
    source: SourceKind = "freshdesk"
    desk: DeskKind = "freshdesk"
    classifier: ClassifierKind = "llm"
    # Present when the mode needs them: checked before any network call.
    freshdesk: FreshdeskSettings | None = None
    zendesk: ZendeskSettings | None = None
    # --from-file: the export file and the --map column names.
    export_file: Path | None = None
    field_map: Mapping[str, str] = field(default_factory=dict)
    llm: LLMSettings | None = None
    embedding: EmbeddingSettings | None = None
    concurrency: int = 8
    batch_size: int = 3
    reclassify: bool = False
    redact: bool = True
    verbose: bool = False
    quiet: bool = False
    embedding_cache: Path = EMBEDDING_CACHE_DIR
    started: float = field(default_factory=time.monotonic)

    @property
    def ticket_base_url(self) -> str | None:
        """The Freshdesk base URL for ticket links, or None when no domain is configured (demo)."""
        if self.freshdesk is not None:
            return self.freshdesk.base_url
        try:
            return self.settings.ticket_base_url()
        except ConfigError:
            return None  # a malformed domain only matters to modes that fetch, which checked it
