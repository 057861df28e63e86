"""Logging to stderr with secrets scrubbed from every line."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterable


class SecretFilter(logging.Filter):
    """Replace secret values (and their Basic-auth encodings) in formatted log records."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) < 4:
                continue
            variants.add(secret)
            variants.add(base64.b64encode(f"{secret}:X".encode()).decode())
        self.variants = sorted(variants, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.variants:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.variants:
            message = record.getMessage()
            scrubbed = self.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


def configure_logging(verbose: bool, quiet: bool, secrets: Iterable[str] = ()) -> SecretFilter:
    """Send logs to stderr: warnings by default, info with --verbose's debug detail, errors only when quiet."""
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose
                                           else "%(levelname)s: %(message)s"))
    scrubber = SecretFilter(secrets)
    handler.addFilter(scrubber)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if not verbose:
        for noisy in ("urllib3", "openai", "httpx", "httpx2", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    return scrubber
