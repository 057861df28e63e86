"""The run context: what the command line and the settings decided, fixed once for a command."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from conversation_utils import ConversationStore
from env import EmbeddingSettings, FreshdeskSettings, LLMSettings, Settings
from errors import ConfigError
from issue_clusterer import SideFiles

SourceKind = Literal["freshdesk", "cache", "demo"]
ClassifierKind = Literal["llm", "embedding"]

CONVERSATIONS_DIR = Path("conversations")
DEMO_CONVERSATIONS_DIR = CONVERSATIONS_DIR / "demo"
EMBEDDING_CACHE_DIR = Path(".cache") / "embeddings"


@dataclass(frozen=True)
class RunContext:
    """Settings already checked for the chosen mode, paths, and the knobs every stage reads."""

    settings: Settings
    files: SideFiles
    store: ConversationStore
    source: SourceKind = "freshdesk"
    classifier: ClassifierKind = "llm"
    # Present when the mode needs them: checked before any network call.
    freshdesk: FreshdeskSettings | None = None
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
