"""Write the fictional demo desk (tickets.json, labels.csv) for `python -m main --demo`.

Deterministic: one seeded random generator and fixed dates, so the output is byte-for-byte
reproducible. Run: python demo_data/make_demo_tickets.py [--out DIR]  (default: this folder).
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import random
import re
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # demo_content.py lives beside this file

from demo_content import (  # noqa: E402
    AGENTS,
    COMPANIES,
    FIRST_NAMES,
    GENERIC,
    LAST_NAMES,
    ONE_OFFS,
    PROBLEMS,
)

SEED = 20261115
END = datetime(2026, 11, 15, tzinfo=timezone.utc)  # nothing in the desk is newer than this
START = END - timedelta(weeks=10)
FIRST_TICKET_ID = 1001
FIRST_CONVERSATION_ID = 81000000001
FIRST_ATTACHMENT_ID = 93000000001
SUPPORT_EMAIL = "support@silo-demo.example.com"
SUPPORT_NAME = "Silo Support"
ASSET_BASE = "https://files.silo-demo.example.com"
LONG_THREAD_PROBLEMS = [  # one long (12-20 conversations) thread in each of these
    "sso_saml_login_loop", "android14_app_crash", "double_charge", "google_calendar_duplicates",
    "csv_export_timeout", "webhook_401",
]

COUNTRY = {  # code: (name, city, timezone, local tax rate)
    "US": ("the United States", "Chicago", "America/Chicago", "8.25% sales tax"),
    "GB": ("the UK", "Manchester", "Europe/London", "20% VAT"),
    "DE": ("Germany", "Munich", "Europe/Berlin", "19% VAT"),
    "FR": ("France", "Lyon", "Europe/Paris", "20% TVA"),
    "NL": ("the Netherlands", "Rotterdam", "Europe/Amsterdam", "21% BTW"),
    "IT": ("Italy", "Bologna", "Europe/Rome", "22% IVA"),
    "ES": ("Spain", "Valencia", "Europe/Madrid", "21% IVA"),
    "NO": ("Norway", "Bergen", "Europe/Oslo", "25% MVA"),
    "CA": ("Canada", "Toronto", "America/Toronto", "13% HST"),
    "AU": ("Australia", "Brisbane", "Australia/Brisbane", "10% GST"),
    "NZ": ("New Zealand", "Wellington", "Pacific/Auckland", "15% GST"),
}
EU_VAT = {"DE", "FR", "NL", "IT", "ES"}
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Chrome 129", "Safari 18"]
OSES = ["Windows 11", "macOS Sonoma", "Windows 10", "macOS Sequoia", "ChromeOS"]
PHONES = ["Samsung Galaxy S23", "Pixel 8", "Galaxy A54", "OnePlus 11", "Pixel 7a", "Xiaomi 13T",
          "Motorola Edge 40", "Samsung Galaxy S24"]
IDPS = ["Okta", "Azure AD", "Google Workspace", "OneLogin", "JumpCloud"]
PLANS = ["Starter", "Team", "Pro", "Business"]
TITLES = ["Office Manager", "Operations Lead", "HR Coordinator", "Owner", "IT Administrator",
          "Practice Manager", "Finance Manager", "Scheduling Lead"]
CAL_NAMES = ["Team rota", "Silo shifts", "Work schedule", "Front desk", "Clinic rota"]


# --------------------------------------------------------------------------- text -> HTML

def _line_kind(line: str) -> str:
    if line.startswith("- "):
        return "ul"
    if re.match(r"\d+\. ", line):
        return "ol"
    if line.startswith("|"):
        return "table"
    return "img" if line.startswith("[img:") and line.endswith("]") else "p"


def parse_blocks(text: str) -> list[tuple[str, list[str]]]:
    """Split light markup into blocks ("p"|"ul"|"ol"|"table"|"img", lines); lists may follow a line directly."""
    blocks: list[tuple[str, list[str]]] = []
    for chunk in text.strip("\n").split("\n\n"):
        start = len(blocks)
        for line in chunk.split("\n"):
            if not line:
                continue
            kind = _line_kind(line)
            item = {"ul": line[2:], "ol": line.split(". ", 1)[-1], "img": line[5:-1]}.get(kind, line)
            if len(blocks) > start and blocks[-1][0] == kind and kind != "img":
                blocks[-1][1].append(item)
            else:
                blocks.append((kind, [item]))
    return blocks


def esc(text: str) -> str:
    return html.escape(text, quote=True)


class Renderer:
    """Renders markup the way one mail client (or the Freshdesk editor) would."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def image(self, name: str) -> str:
        token = "".join(self.rnd.choice("abcdef0123456789") for _ in range(16))
        return (f'<img src="{ASSET_BASE}/inline/{token}/{esc(name)}" alt="{esc(name)}" '
                f'class="inline-image" style="max-width:600px">')

    def special(self, kind: str, lines: list[str]) -> str:
        if kind in ("ul", "ol"):
            return f"<{kind}>" + "".join(f"<li>{esc(item)}</li>" for item in lines) + f"</{kind}>"
        if kind == "table":
            rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
            head = "".join(f"<th>{esc(cell)}</th>" for cell in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
            return (f'<table border="1" cellpadding="4" style="border-collapse:collapse">'
                    f"<tbody><tr>{head}</tr>{body}</tbody></table>")
        return self.image(lines[0])

    def render(self, text: str, client: str) -> str:
        parts = []
        for kind, lines in parse_blocks(text):
            if kind != "p":
                parts.append(self.special(kind, lines))
            elif client in ("gmail", "agent"):
                attr = ' dir="ltr"' if client == "agent" else ""
                parts.append("".join(f"<div{attr}>{esc(line)}</div>" for line in lines))
            elif client == "outlook":
                parts.append("".join(f'<p class="MsoNormal">{esc(line)}<o:p></o:p></p>' for line in lines))
            elif client == "portal":
                parts.append("<p>" + "<br>".join(esc(line) for line in lines) + "</p>")
            else:  # iphone, plain, note
                parts.append("<br>".join(esc(line) for line in lines))
        gap = {
            "gmail": "<div><br></div>", "agent": '<div dir="ltr"><br></div>',
            "outlook": '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>', "portal": "",
        }.get(client, "<br><br>")
        inner = gap.join(parts)
        if client == "agent":
            return ('<div style="font-family:-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, '
                    f'Helvetica Neue, Arial, sans-serif; font-size:14px;">{inner}</div>')
        if client == "outlook":
            return f'<div class="WordSection1">{inner}</div>'
        if client == "portal":
            return inner
        return f'<div dir="ltr">{inner}</div>' if client in ("gmail", "iphone") else f"<div>{inner}</div>"

    def signature(self, sig: str, client: str) -> str:
        if not sig or client == "portal":
            return ""
        lines = sig.split("\n")
        if client == "gmail":
            return ('<div><br></div><div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">'
                    + "<br>".join(esc(line) for line in lines) + "</div>")
        if client == "outlook":
            gap = '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
            return gap + "".join(f'<p class="MsoNormal">{esc(line)}<o:p></o:p></p>' if line else gap
                                 for line in lines)
        if client == "agent":
            return '<div dir="ltr"><br></div><div dir="ltr">' + "<br>".join(esc(x) for x in lines) + "</div>"
        return "<div><br>" + "<br>".join(esc(line) for line in lines) + "</div>"


class _TextExtractor(HTMLParser):
    BLOCKS = {"div", "p", "li", "tr", "blockquote", "table", "ul", "ol", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def _break(self) -> None:
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag in self.BLOCKS:
            self._break()
            if tag == "li":
                self.out.append("- ")
        elif tag in ("td", "th"):
            self.out.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def html_to_text(body: str) -> str:
    """Plain text of an HTML body, roughly as Freshdesk's `body_text` gives it."""
    parser = _TextExtractor()
    parser.feed(body)
    parser.close()
    text = "".join(parser.out).replace("\xa0", " ")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --------------------------------------------------------------------------- quoting

def _hour12(dt: datetime) -> str:
    return f"{dt.hour % 12 or 12}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def quote_block(style: str, who: str, who_email: str, when: datetime, quoted_html: str,
                quoted_text: str, to: str, subject: str) -> str:
    """The quoted history a mail client appends under a reply."""
    sender = esc(f"{who} <{who_email}>")
    if style == "gmail_uk":
        head = f"On {when:%a}, {when.day} {when:%b %Y} at {when:%H:%M}, {sender} wrote:"
    elif style == "gmail_us":
        head = f"On {when:%a}, {when:%b} {when.day}, {when.year} at {_hour12(when)} {sender} wrote:"
    if style.startswith("gmail"):
        return ('<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">' + head + "<br></div>"
                '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
                f'rgb(204,204,204);padding-left:1ex">{quoted_html}</blockquote></div>')
    sent = f"{when:%A}, {when:%B} {when.day}, {when.year} {_hour12(when)}"
    if style == "outlook_original":
        return ('<div><p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">-----Original '
                f"Message-----<br>From: {sender}<br>Sent: {sent}<br>To: {esc(to)}<br>"
                f"Subject: RE: {esc(subject)}<o:p></o:p></p></div>{quoted_html}")
    if style == "outlook_hr":
        return ('<div id="divRplyFwdMsg" dir="ltr"><hr style="display:inline-block;width:98%" tabindex="-1">'
                f'<font face="Calibri, sans-serif" style="font-size:11pt" color="#000000"><b>From:</b> '
                f"{sender}<br><b>Sent:</b> {sent}<br><b>To:</b> {esc(to)}<br><b>Subject:</b> "
                f"Re: {esc(subject)}</font><div>&nbsp;</div></div>{quoted_html}")
    if style == "iphone":
        return (f'<div dir="ltr"><br><blockquote type="cite">On {when.day} {when:%b %Y}, at {when:%H:%M}, '
                f"{sender} wrote:<br><br></blockquote></div>"
                f'<blockquote type="cite"><div dir="ltr">{quoted_html}</div></blockquote>')
    if style == "plain":
        lines = "<br>".join("&gt; " + esc(line) if line else "&gt;" for line in quoted_text.split("\n"))
        return f"<div><br>On {when:%a}, {when.day} {when:%b %Y} at {when:%H:%M}, {sender} wrote:<br>{lines}</div>"
    if style == "freshdesk":
        return ('<div class="freshdesk_quote"><blockquote class="freshdesk_quote">On '
                f"{when:%a}, {when.day} {when:%b %Y} at {_hour12(when)}, {sender} wrote:<br>"
                f"{quoted_html}</blockquote></div>")
    return ""


# --------------------------------------------------------------------------- people

def typo(word: str, rnd: random.Random) -> str:
    i = rnd.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def apply_style(text: str, style: str, rnd: random.Random) -> str:
    """How this customer writes: as is, all lower case, or with a few typos."""
    if style == "lower":
        return "\n".join(line if line.startswith("[img:") else line.lower() for line in text.split("\n"))
    if style != "typos":
        return text
    out_lines = []
    for line in text.split("\n"):
        if line.startswith(("|", "[img:")):
            out_lines.append(line)
            continue
        words = line.split(" ")
        for i, word in enumerate(words):
            if len(word) >= 6 and word.isalpha() and word.islower() and rnd.random() < 0.06:
                words[i] = typo(word, rnd)
        out_lines.append(" ".join(words))
    return "\n".join(out_lines)


def make_requester(rnd: random.Random, index: int) -> dict:
    first, last = rnd.choice(FIRST_NAMES), rnd.choice(LAST_NAMES)
    company, domain, country, currency = rnd.choice(COMPANIES)
    local = rnd.choice([f"{first}.{last}", f"{first[0]}{last}", first, f"{first}{last[0]}"])
    email = re.sub(r"[^a-z.]", "", local.lower().translate(str.maketrans("éëøáó", "eeoao"))) + "@" + domain
    client = rnd.choices(["gmail", "outlook", "iphone", "plain", "portal"], [35, 30, 15, 8, 12])[0]
    phone = f"+1 ({rnd.randint(201, 989)}) 555-01{rnd.randint(0, 99):02d}"
    sig_kind = rnd.choice(["dash", "regards", "thanks", "kind", "none", "android"])
    signature = {
        "dash": f"-- \n{first} {last}\n{rnd.choice(TITLES)} | {company}\n{phone}",
        "regards": f"Best regards,\n{first} {last}",
        "thanks": f"Thanks,\n{first}",
        "kind": f"Kind regards\n\n{first} {last}\n{company}",
        "none": "",
        "android": f"{first}\n\nGet Outlook for Android",
    }[sig_kind]
    if client == "iphone":
        signature = rnd.choice(["", f"Thanks,\n{first}\n\n", f"{first}\n\n"]) + "Sent from my iPhone"
    return {
        "id": 48000000001 + index, "first": first, "last": last, "full": f"{first} {last}",
        "email": email, "company": company, "domain": domain, "country": country, "currency": currency,
        "company_id": 52000000001 + COMPANIES.index((company, domain, country, currency)),
        "client": client, "signature": signature,
        "quote_style": {"gmail": rnd.choice(["gmail_uk", "gmail_us"]),
                        "outlook": rnd.choice(["outlook_original", "outlook_hr"]),
                        "iphone": "iphone", "plain": "plain", "portal": ""}[client],
        "style": rnd.choices(["plain", "lower", "typos"], [70, 8, 22])[0],
    }


def human_date(dt: datetime, rnd: random.Random) -> str:
    return rnd.choice([f"{dt:%A}", f"{dt.day} {dt:%B}", f"{dt:%b} {dt.day}", f"{dt:%d/%m}", "last week"])


def make_context(rnd: random.Random, req: dict, agent: tuple, agent2: tuple, created: datetime,
                 eng: str) -> dict:
    country_name, city, tz, local_tax = COUNTRY[req["country"]]
    other_tax = rnd.choice([v[3] for k, v in COUNTRY.items() if k != req["country"]])
    seats_old = rnd.choice([5, 10, 15, 20, 25, 40])
    c1, c2 = rnd.sample(FIRST_NAMES, 2)
    l1, l2 = rnd.sample(LAST_NAMES, 2)
    price = seats_old * rnd.choice([4, 6, 8])
    return {
        "first": req["first"], "email": req["email"], "company": req["company"], "domain": req["domain"],
        "country": country_name, "city": city, "tz": tz,
        "vat_right": "reverse charge (0%)" if req["country"] in EU_VAT else local_tax,
        "vat_wrong": local_tax if req["country"] in EU_VAT else other_tax,
        "n": rnd.randint(2, 9), "n2": rnd.randint(10, 60), "rows": f"{rnd.randint(40, 900) * 100:,}",
        "date": human_date(created - timedelta(days=rnd.randint(1, 9)), rnd),
        "time": f"{rnd.randint(7, 18):02d}:{rnd.randint(0, 59):02d}",
        "browser": rnd.choice(BROWSERS), "os_name": rnd.choice(OSES), "phone": rnd.choice(PHONES),
        "app_ver": "5.8.0", "fixed_ver": "5.8.2", "idp": rnd.choice(IDPS), "plan": rnd.choice(PLANS),
        "seats_old": seats_old, "seats_new": seats_old + rnd.choice([5, 10, 15]),
        "amount": f"{req['currency']}{price:,}.00" if req["currency"] != "kr" else f"kr {price * 10:,}",
        "last4": f"{rnd.randint(0, 9999):04d}", "invoice": f"INV-2026-{rnd.randint(1000, 9999)}",
        "webhook_url": f"https://hooks.{req['domain']}/silo/events",
        "cal_name": rnd.choice(CAL_NAMES),
        "colleague1": f"{c1} {l1}", "colleague2": f"{c2} {l2}",
        "colleague1_email": f"{c1.lower()[:1]}{l1.lower()}@{req['domain']}".translate(str.maketrans("øé", "oe")),
        "colleague2_email": f"{c2.lower()}@{req['domain']}".translate(str.maketrans("øéëáó", "oeeao")),
        "agent": agent[1].split()[0], "agent2": agent2[1].split()[0], "eng": eng,
    }


# --------------------------------------------------------------------------- threads

class Picker:
    """Draws from pools without repeats inside one thread, so a thread never says the same line twice."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd
        self.left: dict[tuple[str, ...], list[str]] = {}

    def __call__(self, pool: list[str]) -> str:
        key = tuple(pool)
        if not self.left.get(key):
            self.left[key] = list(pool)
            self.rnd.shuffle(self.left[key])
        return self.left[key].pop()


def plan_thread(rnd: random.Random, long_len: int) -> list[str]:
    """The sequence of conversation kinds after the description."""
    if long_len:
        steps = ["A:question", "C:details", "N:note", "A:workaround", "C:still", "A:more_info",
                 "C:more_info", "N:generic"]
        while len(steps) < long_len - 3:
            steps += rnd.choice([["C:chase", "A:update"], ["C:chase", "N:generic", "A:update"],
                                 ["A:update"], ["C:still", "A:update"]])
        return steps[: long_len - 3] + ["A:resolution", "C:confirm", "A:close"]
    return rnd.choices([
        ["A:resolution"],
        ["A:workaround", "C:confirm"],
        ["N:note", "A:workaround", "C:confirm", "A:close"],
        ["A:question", "C:details", "A:workaround", "C:confirm"],
        ["A:question", "C:details", "N:note", "A:workaround", "C:confirm", "A:close"],
        ["A:question", "C:details", "A:workaround", "C:still", "N:note", "A:resolution", "C:confirm"],
        ["A:workaround", "C:still", "A:resolution"],
    ], [6, 14, 8, 20, 18, 12, 6])[0]


GAP_MINUTES = {  # (min, max) minutes before a message of this kind
    "A": (12, 22 * 60), "C": (4, 40 * 60), "N": (2, 90), "chase": (20 * 60, 3 * 24 * 60),
}


def step_text(kind: str, problem: dict, pick: Picker, variant: int) -> str:
    workarounds = problem["workaround"]
    if kind == "A:workaround":
        return workarounds[variant]
    if kind == "A:resolution":
        return problem["resolution"][variant % len(problem["resolution"])]
    if kind == "N:note":
        notes = problem["notes"]
        return pick([notes[variant % len(notes)]] + notes[len(workarounds):])
    pools = {
        "A:question": problem["question"], "A:update": GENERIC["agent_update"],
        "A:more_info": GENERIC["agent_more_info"], "A:close": GENERIC["agent_close"],
        "C:details": problem["details"], "C:confirm": GENERIC["confirm"], "C:chase": GENERIC["chase"],
        "C:more_info": GENERIC["customer_more_info"], "N:generic": GENERIC["notes"],
    }
    if kind == "C:still":
        return pick(problem["still"] + GENERIC["still"])
    return pick(pools[kind])


def attachment(name: str, when: str) -> dict:
    kinds = {"har": "application/json", "csv": "text/csv", "pdf": "application/pdf", "png": "image/png"}
    return {"id": 0, "name": name, "content_type": kinds[name.rsplit(".", 1)[1]],
            "file_size": 1000 + (sum(map(ord, name)) * 977) % 480000,
            "attachment_url": f"{ASSET_BASE}/attachments/{name}", "created_at": when, "updated_at": when}


ATTACH_NAME = {"sso_saml_login_loop": "login_loop.har", "csv_import_utf8_bom": "staff_import.csv",
               "invoice_wrong_tax": "invoice_corrected.pdf", "csv_export_timeout": "timesheets_export.csv"}


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _schedule(rnd: random.Random, problem: dict, long_len: int) -> tuple[list[str], list[int], datetime]:
    """The thread's steps, the minutes before each, and a creation time that leaves room for them."""
    steps = plan_thread(rnd, long_len) if "one_off" not in problem else problem["one_off"]
    gaps = []
    for step in steps:
        low, high = GAP_MINUTES["chase" if step == "C:chase" else step[0]]
        gaps.append(rnd.randint(low, high))
    span = timedelta(minutes=sum(gaps) + 60 * 24)
    latest_start = END - span - timedelta(hours=6)
    created = START + timedelta(seconds=rnd.randint(0, max(0, int((latest_start - START).total_seconds()))))
    return steps, gaps, created.replace(microsecond=0)


class _ThreadWriter:
    """Writes a ticket's conversations in order, each reply quoting the previous writer as mail does."""

    def __init__(self, rnd: random.Random, render: Renderer, req: dict, agents: tuple, ctx: dict,
                 subject: str, label: str, opened: tuple[datetime, str]):
        self.rnd, self.render, self.req, self.agents, self.ctx = rnd, render, req, agents, ctx
        self.subject, self.label = subject, label
        when, core = opened
        self.prev = {"who": req["full"], "email": req["email"], "when": when, "html": core,
                     "text": html_to_text(core)}

    def conversation(self, step: str, text: str, when: datetime) -> dict:
        conv = {"incoming": False, "private": False, "source": 0, "support_email": SUPPORT_EMAIL,
                "cc_emails": [], "bcc_emails": [], "attachments": [], "created_at": iso(when),
                "updated_at": iso(when)}
        who = step[0]
        if who == "N":
            body = self.render.render(text, "note")
            conv.update(private=True, source=2, user_id=self.rnd.choice(self.agents)[0], to_emails=[],
                        from_email=None, support_email=None)
        elif who == "A":
            body = self._agent_reply(conv, step, text, when)
        else:
            body = self._customer_reply(conv, text, when)
        conv["body"], conv["body_text"] = body, html_to_text(body)
        return conv

    def _agent_reply(self, conv: dict, step: str, text: str, when: datetime) -> str:
        rnd, render, req, prev = self.rnd, self.render, self.req, self.prev
        agent, agent2 = self.agents
        replier = agent2 if step == "A:update" and rnd.random() < 0.3 else agent
        hello = rnd.choice(["Hi {first},", "Hello {first},", "Hi {first},", "Dear {first},"])
        full = hello.format_map(self.ctx) + "\n\n" + text
        core = render.render(full, "agent") + render.signature(replier[2], "agent")
        body = core
        if prev["who"] == req["full"] and rnd.random() < 0.55:
            body += quote_block("freshdesk", prev["who"], prev["email"], prev["when"], prev["html"],
                                prev["text"], SUPPORT_EMAIL, self.subject)
        conv.update(user_id=replier[0], to_emails=[req["email"]],
                    from_email=f"{SUPPORT_NAME} <{SUPPORT_EMAIL}>")
        self.prev = {"who": SUPPORT_NAME, "email": SUPPORT_EMAIL, "when": when, "html": core,
                     "text": html_to_text(core)}
        return body

    def _customer_reply(self, conv: dict, text: str, when: datetime) -> str:
        rnd, render, req, prev = self.rnd, self.render, self.req, self.prev
        text = apply_style(text, req["style"], rnd)
        client = req["client"]
        core = render.render(text, client) + render.signature(req["signature"], client)
        body = core
        if client != "portal" and prev["who"] == SUPPORT_NAME:
            body += quote_block(req["quote_style"], prev["who"], prev["email"], prev["when"],
                                prev["html"], prev["text"], f"{req['full']} <{req['email']}>", self.subject)
        conv.update(incoming=True, user_id=req["id"], to_emails=[SUPPORT_EMAIL],
                    from_email=f"{req['full']} <{req['email']}>")
        if "attach" in text.lower():
            conv["attachments"].append(attachment(ATTACH_NAME.get(self.label, "screenshot.png"), iso(when)))
        self.prev = {"who": req["full"], "email": req["email"], "when": when, "html": core,
                     "text": html_to_text(core)}
        return body


def build_ticket(rnd: random.Random, problem: dict, req: dict, long_len: int, label: str) -> dict:
    """One ticket with its conversations; ids are filled in later, once all tickets exist."""
    pick = Picker(rnd)
    variant = rnd.randrange(len(problem["workaround"])) if "workaround" in problem else 0
    agent = rnd.choice(AGENTS)
    agent2 = rnd.choice([a for a in AGENTS if a != agent])
    steps, gaps, created = _schedule(rnd, problem, long_len)
    ctx = make_context(rnd, req, agent, agent2, created, problem.get("eng", ""))
    render = Renderer(rnd)

    subject = pick(problem["subjects"]).format_map(ctx)
    opening = pick(problem["openings"])
    greeting, closing = rnd.choice(GENERIC["greetings"]), rnd.choice(GENERIC["closings"])
    if opening.startswith(("Hi", "Hello", "Hey", "Good morning", "Dear", "Bonjour", "hi,")):
        greeting = ""
    first_text = "\n\n".join(part for part in (greeting, opening, closing) if part).format_map(ctx)
    first_text = apply_style(first_text, req["style"], rnd)
    source = 2 if req["client"] == "portal" else rnd.choices([1, 7, 9], [85, 10, 5])[0]
    desc_client = "portal" if source != 1 else req["client"]
    description = core = (render.render(first_text, desc_client)
                          + render.signature(req["signature"], desc_client))
    ticket_attachments = []
    if "attach" in first_text.lower():
        ticket_attachments.append(attachment(ATTACH_NAME.get(label, "screenshot.png"), iso(created)))

    writer = _ThreadWriter(rnd, render, req, (agent, agent2), ctx, subject, label, (created, core))
    convs: list[dict] = []
    when = created
    for step, gap in zip(steps, gaps, strict=True):
        when = when + timedelta(minutes=gap, seconds=rnd.randint(0, 59))
        text = step_text(step, problem, pick, variant) if "one_off" not in problem else problem["texts"][step]
        convs.append(writer.conversation(step, text.format_map(ctx), when))

    urgent = any(w in first_text.lower() for w in ("urgent", "asap", "blocking", "nobody can", "!!!"))
    ticket = _ticket_record(rnd, problem, req, ctx, {
        "agent": agent, "source": source, "subject": subject, "description": description,
        "created": created, "last": when, "urgent": urgent, "attachments": ticket_attachments,
    })
    return {"ticket": ticket, "conversations": convs, "label": label}


def _ticket_record(rnd: random.Random, problem: dict, req: dict, ctx: dict, made: dict) -> dict:
    """The ticket's Freshdesk fields, closed some time after its last conversation."""
    created, last, source = made["created"], made["last"], made["source"]
    status = rnd.choices([4, 5], [45, 55])[0]
    bump = timedelta(minutes=rnd.randint(5, 180)) if status == 4 else timedelta(hours=rnd.randint(24, 72))
    updated = min(last + bump, END - timedelta(minutes=rnd.randint(10, 600)))
    updated = max(updated, last)
    return {
        "cc_emails": [], "fwd_emails": [], "reply_cc_emails": [], "ticket_cc_emails": [],
        "fr_escalated": False, "spam": False, "email_config_id": 60000012345 if source == 1 else None,
        "group_id": problem.get("group", 7002), "priority": 3 if made["urgent"] else rnd.choice([1, 2, 2, 2]),
        "requester_id": req["id"], "responder_id": made["agent"][0], "source": source,
        "company_id": req["company_id"], "status": status, "subject": made["subject"],
        "support_email": SUPPORT_EMAIL if source == 1 else None,
        "to_emails": [SUPPORT_EMAIL] if source == 1 else None, "product_id": None, "id": 0,
        "type": problem.get("type"), "due_by": iso(created + timedelta(days=1)),
        "fr_due_by": iso(created + timedelta(hours=4)), "is_escalated": False,
        "description": made["description"], "description_text": html_to_text(made["description"]),
        "custom_fields": {"cf_plan": ctx["plan"], "cf_region": req["country"]},
        "created_at": iso(created), "updated_at": iso(updated),
        "tags": sorted(rnd.sample(problem["tags"], rnd.randint(1, len(problem["tags"])))),
        "attachments": made["attachments"],
    }


def one_off_problem(entry: tuple) -> dict:
    key, subject, opening, reply, answer = entry
    steps = ["A:workaround"] + (["C:confirm"] if answer else [])
    return {"key": key, "one_off": steps, "subjects": [subject], "openings": [opening],
            "texts": {"A:workaround": reply, "C:confirm": answer}, "tags": ["general"],
            "group": 7003, "type": "Question"}


# --------------------------------------------------------------------------- output

def generate(rnd: random.Random) -> list[dict]:
    """All demo tickets, ids assigned in creation order like a real desk."""
    specs = []
    for problem in PROBLEMS:
        long_at = rnd.randrange(problem["count"]) if problem["key"] in LONG_THREAD_PROBLEMS else -1
        for i in range(problem["count"]):
            specs.append((problem, rnd.randint(12, 20) if i == long_at else 0, problem["key"]))
    specs += [(one_off_problem(entry), 0, entry[0]) for entry in ONE_OFFS]
    requesters: list[dict] = []
    items = []
    for problem, long_len, label in specs:
        same_company = [r for r in requesters if r["company"] == requesters[-1]["company"]] if requesters else []
        if requesters and rnd.random() < 0.12:
            req = rnd.choice(same_company)  # repeat customers happen
        else:
            req = make_requester(rnd, len(requesters))
            requesters.append(req)
        items.append(build_ticket(rnd, problem, req, long_len, label))

    items.sort(key=lambda item: (item["ticket"]["created_at"], item["label"]))
    for number, item in enumerate(items):
        item["ticket"]["id"] = FIRST_TICKET_ID + number
        for conv in item["conversations"]:
            conv["ticket_id"] = item["ticket"]["id"]
    convs = sorted((c for item in items for c in item["conversations"]),
                   key=lambda c: (c["created_at"], c["ticket_id"]))
    for number, conv in enumerate(convs):
        conv["id"] = FIRST_CONVERSATION_ID + number
    attachments = [a for item in items for a in item["ticket"]["attachments"]]
    attachments += [a for c in convs for a in c["attachments"]]
    for number, att in enumerate(sorted(attachments, key=lambda a: a["created_at"])):
        att["id"] = FIRST_ATTACHMENT_ID + number
        att["attachment_url"] = f"{ASSET_BASE}/attachments/{att['id']}/{att['name']}"
    return items


CONVERSATION_KEYS = ["body", "body_text", "id", "incoming", "private", "user_id", "support_email", "source",
                     "ticket_id", "to_emails", "from_email", "cc_emails", "bcc_emails", "created_at",
                     "updated_at", "attachments"]


def render_outputs(items: list[dict]) -> tuple[str, str]:
    """The text of tickets.json and labels.csv."""
    records = [{"ticket": item["ticket"],
                "conversations": [{key: conv[key] for key in CONVERSATION_KEYS} for conv in item["conversations"]]}
               for item in items]
    tickets_json = json.dumps(records, indent=1, ensure_ascii=False) + "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["ticket_id", "problem"])
    for item in items:
        writer.writerow([item["ticket"]["id"], item["label"]])
    return tickets_json, buffer.getvalue()


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder for tickets.json and labels.csv (default: this file's folder)")
    args = parser.parse_args(argv)
    tickets_json, labels_csv = render_outputs(generate(random.Random(SEED)))
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "tickets.json", tickets_json)
    write_atomic(args.out / "labels.csv", labels_csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
