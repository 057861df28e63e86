"""A handful of themes over the issues, by clustering the issues' descriptions (offline, deterministic).

Each issue's name, keywords and root cause become a TF-IDF vector; issues join, largest first, the theme
whose issues they are most alike, or start a new one. Past MAX_THEMES, the rest go to "Other".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from issue_trends import Trend
from text_terms import terms

MAX_THEMES = 6
JOIN_SIMILARITY = 0.12


@dataclass
class Theme:
    name: str
    issue_ids: list[str] = field(default_factory=list)
    tickets: int = 0
    recent: int = 0
    previous: int = 0
    share: float = 0.0

    @property
    def growth(self) -> int:
        return self.recent - self.previous


def group_into_themes(ranked: list[Trend], max_themes: int = MAX_THEMES) -> list[Theme]:
    """Themes over the issues of `ranked` (recurring ones seed them), largest share first."""
    if not ranked:
        return []
    bags = {t.issue.issue_id: Counter(w for w in terms(_description(t)) if " " not in w) for t in ranked}
    documents = Counter(w for bag in bags.values() for w in bag)
    weights = {i: _unit({w: n * math.log(1 + len(bags) / documents[w]) for w, n in bag.items()})
               for i, bag in bags.items()}
    centres: list[dict[str, float]] = []
    members: list[list[Trend]] = []
    other: list[Trend] = []
    for trend in sorted(ranked, key=lambda t: (-len(t.issue.ticket_ids), t.issue.issue_id)):
        vector = weights[trend.issue.issue_id]
        scores = [_dot(vector, centre) for centre in centres]
        best = max(range(len(scores)), key=scores.__getitem__, default=-1)
        if best >= 0 and scores[best] >= JOIN_SIMILARITY:
            members[best].append(trend)
            centres[best] = _unit(Counter(centres[best]) + Counter(vector))
        elif len(centres) < max_themes and len(trend.issue.ticket_ids) > 1:
            centres.append(vector)
            members.append([trend])
        else:
            other.append(trend)
    groups = [(_name(group, bags), group) for group in members] + ([("Other", other)] if other else [])
    return _summarised(groups)


def _summarised(groups: list[tuple[str, list[Trend]]]) -> list[Theme]:
    total = sum(len(t.issue.ticket_ids) for _, group in groups for t in group) or 1
    themes = []
    for name, group in groups:
        theme = Theme(name, sorted(t.issue.issue_id for t in group))
        theme.tickets = sum(len(t.issue.ticket_ids) for t in group)
        theme.recent = sum(t.recent for t in group)
        theme.previous = sum(t.previous for t in group)
        theme.share = theme.tickets / total
        themes.append(theme)
    return sorted(themes, key=lambda t: (t.name == "Other", -t.tickets, t.name))


def _name(group: list[Trend], bags: dict[str, Counter[str]]) -> str:
    """The words most of the theme's issues share, else its largest issue's name."""
    shared = Counter(w for t in group for w in set(bags[t.issue.issue_id]))
    common = [w for w, n in sorted(shared.items(), key=lambda p: (-p[1], p[0])) if n > 1][:2]
    if len(group) > 1 and common:
        return " / ".join(w.capitalize() for w in common)
    return group[0].issue.category


def _description(trend: Trend) -> str:
    issue = trend.issue
    return " ".join([issue.category, " ".join(issue.keywords), issue.root_cause])


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {w: v / norm for w, v in vector.items()}


def _dot(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(v * b.get(w, 0.0) for w, v in a.items())
