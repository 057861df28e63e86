"""Checks that keep ticket text from choosing a decision: text written to the classifier, and confident
choices the similarities do not bear out. Each check gives a reason for review, or "" when it finds nothing.

A decision with such a reason is still the model's, but it goes to a provisional issue for a person
(`IssueDB.apply`), as an unsure one does: a stranger's ticket cannot grow or found a confirmed issue by
telling the model what to answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from issue_clusterer import issue_text
from records import Answer, Candidate, Outcome

if TYPE_CHECKING:
    from candidates import IssueIndex
    from decider import PreparedTicket

# Phrases that speak to a classifier rather than to a support agent, in the cleaner's languages. Each
# stays specific enough that an ordinary customer's words do not match it: "ignore my previous email"
# or "the model of my car" are not instructions to the model.
_PATTERNS: tuple[tuple[str, str], ...] = (
    # The DB's ids and the field names of the prompt's answer format.
    ("an issue id", r"\bISS-\d{4,}\b"),
    ("the answer format", r"\b(?:issue_id|keep_issue_id|same_problem|resolution_steps|root_cause)\b"),
    ("a confidence", r"\bconfidence\s*(?:score|level|value)?\s*(?:of|to|at|=|:|is)?\s*"
                     r"(?:1(?:[.,]0+)?|0?[.,]\d+|100\s*%)(?![\d%])"),
    ("a confidence", r"\b(?:set|assign)\s+(?:(?:a|the|your|maximum|full|high)\s+)*confidence\b"),
    ("the candidate list", r"\bcandidate\s+(?:issues?|issue_ids?|ids?|labels?)\b"),
    ("the candidate list", r"\byour\s+(?:candidate|candidates|options?|issues?)\s+(?:list|array)\b"),
    ("the candidate list", r"\b(?:first|top|last|second)\s+(?:issue|candidate|option|entry|one)\s+(?:on|in|of|from)\s+"
                           r"(?:your|the\s+candidate)\s+(?:\w+\s+)?list\b"),
    ("the candidate list", r"\b(?:candidate|label)\s+C\d{1,2}\b"),
    # "Ignore all previous instructions" and its kin; "ignore my previous email" is no instruction to the model.
    ("instructions to the model", r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:all|any|every|each)\s+"
                                  r"(?:of\s+)?(?:the\s+|your\s+|these\s+|those\s+)?(?:\w+\s+){0,2}"
                                  r"(?:instructions?|prompts?|rules|directions|guidelines)\b"),
    ("instructions to the model", r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:the|your)\s+"
                                  r"(?:previous|prior|above|earlier|preceding|system|original|initial)\s+"
                                  r"(?:instructions?|prompts?|rules)\b"),
    ("instructions to the model", r"\b(?:system|developer)\s+prompt\b"),
    ("instructions to the model", r"\b(?:new|updated|real|actual)\s+instructions?\s*:"),
    ("instructions to the model", r"\byou\s+(?:are|act\s+as)\s+(?:now\s+)?(?:an?\s+|the\s+)?"
                                  r"(?:ai|llm|language\s+model|classifier|chatbot|gpt|assistant\s+that)\b"),
    ("instructions to the model", r"\b(?:dear|hey|attention|note\s+to\s+(?:the\s+)?)\s*"
                                  r"(?:ai|llm|language\s+model|classifier|chatbot|gpt)\b"),
    ("instructions to the model", r"\b(?:classify|categori[sz]e|label|file|assign|route|map|put)\s+"
                                  r"(?:this|the|my)\s+(?:ticket|request|message|case)\s+(?:to|as|under|into|in|with)\s+"
                                  r"(?:issue|category|candidate|the\s+(?:first|top|issue|category|candidate))\b"),
    ("instructions to the model", r"\b(?:answer|respond|reply)\s+(?:only\s+)?with\s+(?:only\s+)?"
                                  r"(?:this|the\s+following|exactly|one)\s+(?:json|object|answer)\b"),
    ("instructions to the model", r"\bsay\s+nothing\s+else\b"),
    # German, French, Spanish and Dutch, held to the same rule: all instructions, or the previous ones.
    ("instructions to the model", r"\b(?:ignorier|vergiss|vergessen|missacht)\w*\s+(?:(?:sie|du)\s+)?"
                                  r"(?:alle\s+(?:\w+\s+){0,2}|(?:die|deine|ihre)\s+(?:vorherigen|bisherigen|obigen|"
                                  r"vorigen|früheren|ursprünglichen)\s+)(?:anweisungen|instruktionen|befehle|regeln)\b"),
    ("instructions to the model", r"\b(?:ignore[zr]?|oublie[zr]?)\s+(?:toutes\s+(?:les\s+|vos\s+|tes\s+)?(?:\w+\s+)?"
                                  r"(?:instructions|consignes)|(?:les|vos|tes)\s+(?:instructions|consignes)\s+"
                                  r"(?:précédentes|antérieures|ci-dessus|du\s+système))"),
    ("instructions to the model", r"\b(?:ignora|ignore|olvida|olvide)\w*\s+(?:todas\s+(?:las\s+|tus\s+|sus\s+)?"
                                  r"(?:\w+\s+)?(?:instrucciones|indicaciones)|(?:las|tus|sus)\s+instrucciones\s+"
                                  r"(?:anteriores|previas|del\s+sistema))"),
    ("instructions to the model", r"\b(?:negeer|vergeet)\s+(?:alle\s+(?:\w+\s+){0,2}|(?:de|je|uw)\s+"
                                  r"(?:vorige|eerdere|bovenstaande)\s+)(?:instructies|opdrachten)\b"),
    # Chat-template role tags and the prompt's own delimiters.
    ("a role tag", r"<\|?\s*(?:im_start|im_end|system|assistant|endoftext|eot_id|start_header_id)\s*\|?>"),
    ("a role tag", r"\[/?INST\]|<<\s*/?SYS\s*>>|###\s*(?:system|instruction|assistant)\b"),
    ("a role tag", r"(?m)^\s*(?:system|assistant|developer)\s*:\s*(?:you|ignore|assign|classify|answer|respond|"
                   r"set|from\s+now|the\s+ticket|this\s+ticket)\b"),
    ("a role tag", r"<\s*/?\s*(?:ticket|candidates|issues|examples|system|instructions?)\s*>"),
)
_COMPILED = tuple((what, re.compile(pattern, re.IGNORECASE)) for what, pattern in _PATTERNS)
_QUOTE_CHARS = 40


def addresses_model(text: str) -> str:
    """Why `text` reads as written to the classifier, quoting what matched; "" when nothing does."""
    found: dict[str, str] = {}
    for what, pattern in _COMPILED:
        if what in found:
            continue
        match = pattern.search(text)
        if match:
            found[what] = " ".join(match.group().split())[:_QUOTE_CHARS]
    if not found:
        return ""
    quoted = "; ".join(f'{what} "{snippet}"' for what, snippet in found.items())
    return f"the ticket text addresses the model ({quoted})"


# A confident choice is implausible when the chosen candidate ranks below this many others by similarity
# to the ticket and lies this far below the best one, or when the answer's own description of the problem
# is less similar to the ticket's problem statement than this.
FAR_RANK = 5
FAR_BELOW_BEST = 0.2
DESCRIPTION_FLOOR = 0.05


def implausible_choice(answer: Answer, candidates: Sequence[Candidate], description_similarity: float | None) -> str:
    """Why a confident answer is implausible by similarity; "" when nothing speaks against it.

    `candidates` are the issues the answer was chosen from, best first; a chosen issue that is not
    among them (one a second look found) is not ranked. `description_similarity` is the cosine
    similarity of the answer's category, keywords and root cause to the ticket's problem statement.
    """
    reasons = []
    ranked = sorted(candidates, key=lambda c: -c.similarity)
    position = next((n for n, c in enumerate(ranked) if c.issue_id == answer.issue_id), None)
    if position is not None and position >= FAR_RANK:
        chosen, best = ranked[position].similarity, ranked[0].similarity
        if chosen <= best - FAR_BELOW_BEST:
            reasons.append(f"{answer.issue_id} ranks {position + 1} of {len(ranked)} candidates by similarity "
                           f"({chosen:.2f}, the best {best:.2f})")
    if description_similarity is not None and description_similarity < DESCRIPTION_FLOOR:
        reasons.append(f"the answer's description is far from the ticket (similarity {description_similarity:.2f})")
    if not reasons:
        return ""
    return f"implausible choice: {'; '.join(reasons)}"


def review_outcome(outcome: Outcome, ticket: PreparedTicket, index: IssueIndex, threshold: float | None) -> Outcome:
    """The outcome with a doubt added when a confident model answer is implausible (`implausible_choice`).

    `threshold` None (the offline classifier, whose choice is the similarity itself) checks nothing.
    """
    answer = outcome.answer
    if answer is None or threshold is None or answer.confidence < threshold:
        return outcome
    described = index.embed([issue_text(answer.category, answer.keywords, answer.root_cause)])[0]
    similarity = float(np.dot(described, ticket.vector))
    why = implausible_choice(answer, ticket.candidates, similarity)
    if not why:
        return outcome
    return replace(outcome, doubt="; ".join(r for r in (outcome.doubt, why) if r))
