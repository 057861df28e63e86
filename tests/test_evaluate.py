"""Clustering metrics against hand-worked values, loading labelled data, and the evaluate CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import evaluate
from errors import UsageError


def test_perfect_and_permuted_labels_score_one():
    labels = ["a", "a", "b", "b", "c"]
    for assigned in (["a", "a", "b", "b", "c"], ["ISS-2", "ISS-2", "ISS-9", "ISS-9", "ISS-1"]):
        assert evaluate.nmi(labels, assigned) == pytest.approx(1.0)
        assert evaluate.ari(labels, assigned) == pytest.approx(1.0)
        assert evaluate.purity(labels, assigned) == pytest.approx(1.0)


def test_all_in_one_issue():
    # labels a a b b, one issue. NMI: H(issue) = 0 and MI = 0 -> 0.
    # ARI: n=4, pairs=6; same-cell pairs C(2,2)+C(2,2)=2; label pairs 2; issue pairs C(4,2)=6;
    # expected 2*6/6 = 2; max (2+6)/2 = 4; ARI = (2-2)/(4-2) = 0. Purity: majority 2 of 4 = 0.5.
    labels, assigned = ["a", "a", "b", "b"], ["x"] * 4
    assert evaluate.nmi(labels, assigned) == pytest.approx(0.0)
    assert evaluate.ari(labels, assigned) == pytest.approx(0.0)
    assert evaluate.purity(labels, assigned) == pytest.approx(0.5)


def test_singletons():
    # labels a a b b, four issues of one. H(labels) = ln 2, H(issues) = ln 4 = 2 ln 2, MI = ln 2
    # (issues determine labels): NMI = ln2 / ((ln2 + 2 ln2)/2) = 2/3.
    # ARI: same-cell pairs 0, label pairs 2, issue pairs 0 -> expected 0, max 1 -> 0. Purity 1.
    labels, assigned = ["a", "a", "b", "b"], [1, 2, 3, 4]
    assert evaluate.nmi(labels, assigned) == pytest.approx(2 / 3)
    assert evaluate.ari(labels, assigned) == pytest.approx(0.0)
    assert evaluate.purity(labels, assigned) == pytest.approx(1.0)


def test_one_label_one_issue_is_identical():
    assert evaluate.nmi(["a"] * 3, ["x"] * 3) == 1.0
    assert evaluate.ari(["a"] * 3, ["x"] * 3) == 1.0


def test_refinement_matches_known_values():
    # labels 0 0 1 1, issues 0 0 1 2 (label 1 split in two).
    # H(labels) = ln2, H(issues) = 1.5 ln2, MI = ln2: NMI = ln2 / 1.25 ln2 = 0.8.
    # ARI: same-cell 1, label pairs 2, issue pairs 1, total 6: expected 2/6, max 1.5:
    # (1 - 1/3) / (1.5 - 1/3) = 4/7. Purity 1.
    labels, assigned = [0, 0, 1, 1], [0, 0, 1, 2]
    assert evaluate.nmi(labels, assigned) == pytest.approx(0.8)
    assert evaluate.ari(labels, assigned) == pytest.approx(4 / 7)
    assert evaluate.purity(labels, assigned) == pytest.approx(1.0)


def test_mixed_example_worked_by_hand():
    # labels a a a b b b; issues x x y y y y. Cells: (a,x)=2, (a,y)=1, (b,y)=3.
    # ARI: same-cell pairs 1+0+3 = 4; label pairs 3+3 = 6; issue pairs 1+6 = 7; total 15;
    # expected 6*7/15 = 2.8; max 6.5; ARI = 1.2/3.7.
    # NMI: H(labels) = ln2; H(issues) = -(1/3 ln 1/3 + 2/3 ln 2/3);
    # MI = 1/3 ln2 + 1/6 ln(1/2) + 1/2 ln(3/2) = 1/6 ln2 + 1/2 ln 1.5.
    labels = list("aaabbb")
    assigned = list("xxyyyy")
    h_issues = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    mutual = math.log(2) / 6 + 0.5 * math.log(1.5)
    assert evaluate.ari(labels, assigned) == pytest.approx(1.2 / 3.7)
    assert evaluate.nmi(labels, assigned) == pytest.approx(mutual / ((math.log(2) + h_issues) / 2))
    assert evaluate.purity(labels, assigned) == pytest.approx(5 / 6)


def test_metrics_are_symmetric_where_they_should_be():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 5, 200).tolist(), rng.integers(0, 7, 200).tolist()
    assert evaluate.nmi(a, b) == pytest.approx(evaluate.nmi(b, a))
    assert evaluate.ari(a, b) == pytest.approx(evaluate.ari(b, a))
    # Random assignments carry almost no information.
    assert abs(evaluate.ari(a, b)) < 0.05


def test_evaluate_assignments_counts_issues():
    result = evaluate.evaluate_assignments(["a", "a", "b"], ["I1", "I2", "I3"])
    assert result["issues"] == 3 and result["true_labels"] == 2 and result["items"] == 3


def test_load_csv_and_jsonl(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('Text,Label\n"I forgot my password, help",login\nrefund please,billing\n')
    assert evaluate.load_labelled(csv_path) == (["I forgot my password, help", "refund please"],
                                                ["login", "billing"])
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(json.dumps({"utterance": "hi", "intent": "Greet"}) + "\n\n")
    assert evaluate.load_labelled(jsonl) == (["hi"], ["Greet"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("no_header.csv", "text,intent\nhello,x\n", "columns text and label"),
        ("blank.csv", "text,label\nhello,\n", "line 2"),
        ("empty.csv", "text,label\n", "no labelled texts"),
        ("bad.jsonl", '{"utterance": "a", "intent": "x"}\nnot json\n', "line 2"),
        ("nolabel.jsonl", '{"utterance": "a"}\n', "line 1"),
    ],
)
def test_bad_input_is_a_usage_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        evaluate.load_labelled(path)


CSV = """text,label
I forgot my password and cannot log in,login
How do I reset my password?,login
My password reset link does not work,login
I was charged twice on my credit card,billing
Please refund the double charge on my card,billing
Why was my card billed two times this month,billing
"""


def test_cli_scores_a_small_csv(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "small.csv"
    path.write_text(CSV)
    assert evaluate.main([str(path), "--classifier", "embedding"]) == 0
    out = capsys.readouterr().out
    figures = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert 0.0 <= float(figures["NMI"]) <= 1.0
    assert figures["issues"].split()[0].isdigit()
    assert "true labels: 2" in figures["issues"]
    assert figures["tokens"].startswith("0 ")
    assert evaluate.main([str(path), "--limit", "2"]) == 0
    assert "items        2" in capsys.readouterr().out


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_BASE_URL", "LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "small.csv"
    path.write_text(CSV)
    for argv, message in (
        ([str(tmp_path / "missing.csv")], "cannot read"),
        ([str(path), "--classifier", "llm"], "LLM_API_BASE_URL and LLM_MODEL not set"),
        ([str(path), "--limit", "0"], "--limit"),
        ([str(path), "--threshold", "1.5"], "--threshold"),
    ):
        assert evaluate.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_cli_llm_mode_runs_the_model_through_the_classify_stage(tmp_path, capsys, monkeypatch):
    """An oracle model that knows each text's label scores 1.0 and its tokens are counted."""
    from tests.fake_openai import FakeOpenAI, candidates_in, ticket_in

    def oracle(request):
        label = "login" if "password" in ticket_in(request) else "billing"
        known = [c["issue_id"] for c in candidates_in(request) if c["category"] == label]
        return json.dumps({"issue_id": known[0] if known else None, "category": label, "keywords": [label],
                           "root_cause": "r", "resolution_steps": ["s"], "confidence": 0.95, "notes": ""})

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "small.csv"
    path.write_text(CSV)
    with FakeOpenAI(responder=oracle) as server:
        monkeypatch.setenv("LLM_API_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_MODEL", "fake-model")
        assert evaluate.main([str(path), "--classifier", "llm"]) == 0
        calls = server.calls
    figures = dict(line.split(None, 1) for line in capsys.readouterr().out.strip().splitlines())
    assert float(figures["NMI"]) == 1.0 and float(figures["ARI"]) == 1.0
    assert figures["issues"].startswith("2 ")
    assert calls >= 6 and int(figures["tokens"].split()[0]) > 0


def test_candidate_recall_counts_true_issue_in_top_k():
    # Three labels on orthogonal axes; the last item of "c" sits closer to "a" than to its own issue.
    a, b, c = np.eye(3, dtype=np.float32)
    confused = np.array([0.9, 0.0, 0.436], dtype=np.float32)
    vectors = np.stack([a, b, c, a, b, confused])
    labels = ["a", "b", "c", "a", "b", "c"]
    recall = evaluate.candidate_recall(vectors, labels, [1, 2])
    assert recall == {1: round(2 / 3, 4), 2: 1.0}


def test_cli_scores_a_desk_through_the_real_cleaning_and_names_what_splits_and_mixes(tmp_path, capsys, monkeypatch):
    from tests.e2e_support import make_e2e_desk

    threads, truth = make_e2e_desk(24, seed=3, topics=3)
    tickets = [{**thread["ticket"], "conversations": thread["conversations"]} for thread in threads]
    tickets.append({**tickets[0], "id": 999, "status": 2})  # open: a run over resolved tickets never sees it
    desk = tmp_path / "tiny_desk.json"
    desk.write_text(json.dumps({"tickets": tickets, "truth": {str(t): f"topic {n}" for t, n in truth.items()}}))
    monkeypatch.chdir(tmp_path)
    assert evaluate.main([str(desk), "--recall"]) == 0
    out = capsys.readouterr().out
    figures = dict(line.split(None, 1) for line in out.strip().splitlines() if not line.startswith(" "))
    assert figures["items"] == "24"
    assert "true labels: 3; extra confident issues: " in figures["issues"]
    assert figures["recall"].startswith("@5 ")
    conversations, labels = evaluate.load_data(desk)
    assert len(conversations) == 24 and labels[0].startswith("topic ")
    assert all("<" not in m["text"] for c in conversations for m in c["messages"])  # cleaned, not raw HTML


def test_breakdown_names_split_problems_and_mixed_issues():
    labels = ["a", "a", "a", "b", "b", "c"]
    assigned = ["I1", "I2", "I2", "I2", "I3", "I3"]
    split, mixed = evaluate.breakdown(labels, assigned, {"I1": "One", "I2": "Two", "I3": "Three"})
    assert split == ["a: 2 issues (I2 'Two' 2, I1 'One' 1)", "b: 2 issues (I2 'Two' 1, I3 'Three' 1)"]
    assert mixed == ["I2 'Two': 2 problems (a 2, b 1)", "I3 'Three': 2 problems (b 1, c 1)"]
    result = evaluate.evaluate_assignments(labels, assigned, confident=[True, True, True, True, False, False])
    assert result["extra_confident_issues"] == 0  # I1 and I2 hold a and b
