#!/usr/bin/python3
"""log_events.py - every log event of the sources against docs/operations.md's "Log events".

Reads every log call of the C sources (log_error/warn/info/debug, and log_write with its
LOG_LEVEL_* words) and takes the event from its format string, which must be string literals
opening with `event=NAME` (a name that is a literal, so that grep finds it). The docs' tables
(`| \\`NAME\\` | LEVELS | FIELDS | what to do |`) must list exactly those names, each with the
levels the code logs it at and the fields its formats write (all of them, or some and `...`).
Fails, naming each one, on an event logged but not listed, one listed but no longer logged, a
level or a field that differs, and a log call whose event cannot be read.
Run by ctest as the test "log_events"; no build needed.

  scripts/log_events.py [ROOT]          check (ROOT: the source tree, default this checkout)
  scripts/log_events.py --list [ROOT]   print each event: levels, fields, where it is logged
"""
import os
import re
import sys

LAYERS = ("lib", "conf", "queue", "sql", "jobs", "daemon", "ctl")
DOC = os.path.join("docs", "operations.md")
SECTION = "## Log events"
LEVELS = ("error", "warn", "info", "debug")
CALL = re.compile(r"\blog_(error|warn|info|debug|write)\s*\(")
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
EVENT = re.compile(r"event=([a-z][a-z0-9_]*)(?=[ \"]|$)")
FIELD = re.compile(r"(?:^| )([a-z][a-z0-9_]*)=")
ROW = re.compile(r"^\| `([^`]+)` \| ([a-z, ]+) \| ([^|]*)\|")
ELIDED = "..."


def sources(root):
    for layer in LAYERS:
        for top, dirs, files in os.walk(os.path.join(root, layer)):
            dirs.sort()
            for name in sorted(files):
                if name.endswith((".c", ".h")) and not name.endswith("_test.c"):
                    yield os.path.join(top, name)


TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|/\*.*?\*/|//[^\n]*', re.S)


def blank_comments(text):
    """The text with its comments turned into spaces (newlines kept, so lines still count)."""
    def blank(m):
        tok = m.group(0)
        return re.sub(r"[^\n]", " ", tok) if tok.startswith("/") else tok
    return TOKEN.sub(blank, text)


def call_args(text, start):
    """The top-level arguments of the call whose "(" is at `start`."""
    args, depth, cur, i = [], 0, [], start + 1
    while i < len(text):
        c = text[i]
        m = LITERAL.match(text, i) if c == '"' else None
        if m:
            cur.append(m.group(0))
            i = m.end()
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                args.append("".join(cur).strip())
                return args
            depth -= 1
        elif c == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    return args


def code_events(root):
    """({event: {"levels", "fields", "where"}}, [problems])."""
    events, problems = {}, []
    for path in sources(root):
        rel = os.path.relpath(path, root)
        if rel in ("lib/log.c", "lib/log.h"):  # the definitions themselves
            continue
        with open(path, encoding="utf-8") as f:
            text = blank_comments(f.read())
        for m in CALL.finditer(text):
            where = "%s:%d" % (rel, text.count("\n", 0, m.start()) + 1)
            args = call_args(text, m.end() - 1)
            if m.group(1) == "write":
                levels = {w.lower() for w in re.findall(r"LOG_LEVEL_([A-Z]+)", args[0])}
                fmt_arg = args[1] if len(args) > 1 else ""
                if not levels:
                    problems.append("%s: log_write's level is not a LOG_LEVEL_* word" % where)
                    continue
            else:
                levels = {m.group(1)}
                fmt_arg = args[0] if args else ""
            if not re.fullmatch(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', fmt_arg):
                problems.append("%s: the format is not a string literal: %s" % (where, fmt_arg))
                continue
            fmt = "".join(LITERAL.findall(fmt_arg))
            ev = EVENT.match(fmt)
            if not ev:
                problems.append("%s: the format does not open with event=NAME (a literal name): "
                                "\"%s\"" % (where, fmt[:60]))
                continue
            e = events.setdefault(ev.group(1), {"levels": set(), "fields": [], "where": []})
            e["levels"] |= levels
            e["where"].append(where)
            for fld in FIELD.findall(fmt[ev.end():]):
                if fld not in e["fields"]:
                    e["fields"].append(fld)
    return events, problems


def doc_events(root):
    """({event: {"levels", "fields", "elided", "line"}}, [problems]) from the tables of the
    "Log events" section."""
    with open(os.path.join(root, DOC), encoding="utf-8") as f:
        lines = f.read().split("\n")
    events, problems, inside = {}, [], False
    for n, line in enumerate(lines, 1):
        if line.startswith("## "):
            inside = line.strip() == SECTION
            continue
        if not inside or not line.startswith("| `"):
            continue
        m = ROW.match(line)
        if not m:
            problems.append("%s:%d: a row that is not | `event` | levels | ...: %s"
                            % (DOC, n, line))
            continue
        levels = {w.strip() for w in m.group(2).split(",")}
        if not levels <= set(LEVELS):
            problems.append("%s:%d: %s: levels must be words of %s (got %s)"
                            % (DOC, n, m.group(1), ", ".join(LEVELS), m.group(2).strip()))
        words = m.group(3).split()
        fields = [w for w in words if w != ELIDED]
        if any(not re.fullmatch(r"[a-z][a-z0-9_]*", w) for w in fields):
            problems.append("%s:%d: %s: fields must be names, or %s for the rest (got %s)"
                            % (DOC, n, m.group(1), ELIDED, m.group(3).strip()))
        if m.group(1) in events:
            problems.append("%s:%d: %s is listed twice" % (DOC, n, m.group(1)))
        events[m.group(1)] = {"levels": levels, "fields": fields, "elided": ELIDED in words,
                              "line": n}
    if not events:
        problems.append("%s: no table of events under \"%s\"" % (DOC, SECTION))
    return events, problems


def ordered(levels):
    return ", ".join(lv for lv in LEVELS if lv in levels)


def main(argv):
    listing = "--list" in argv
    rest = [a for a in argv if a != "--list"]
    if len(rest) > 1 or any(a.startswith("-") for a in rest):
        print("usage: log_events.py [--list] [ROOT]", file=sys.stderr)
        return 2
    root = rest[0] if rest else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code, problems = code_events(root)
    if listing:
        for name in sorted(code):
            e = code[name]
            print("%-28s %-12s %s  (%s)" % (name, ordered(e["levels"]), " ".join(e["fields"]),
                                            ", ".join(e["where"])))
        return 0
    doc, doc_problems = doc_events(root)
    problems += doc_problems
    for name in sorted(code.keys() - doc.keys()):
        problems.append("event=%s is logged (%s) but not listed in %s, \"%s\""
                        % (name, ", ".join(code[name]["where"]), DOC, SECTION))
    for name in sorted(doc.keys() - code.keys()):
        problems.append("%s:%d: event=%s is listed but no log call logs it"
                        % (DOC, doc[name]["line"], name))
    for name in sorted(code.keys() & doc.keys()):
        if code[name]["levels"] != doc[name]["levels"]:
            problems.append("%s:%d: event=%s is listed at %s but logged at %s (%s)"
                            % (DOC, doc[name]["line"], name, ordered(doc[name]["levels"]),
                               ordered(code[name]["levels"]), ", ".join(code[name]["where"])))
        unlogged = [f for f in doc[name]["fields"] if f not in code[name]["fields"]]
        unlisted = [f for f in code[name]["fields"] if f not in doc[name]["fields"]]
        if unlogged:
            problems.append("%s:%d: event=%s lists %s, which no log call of it writes (%s)"
                            % (DOC, doc[name]["line"], name, " ".join(unlogged),
                               ", ".join(code[name]["where"])))
        if unlisted and not doc[name]["elided"]:
            problems.append("%s:%d: event=%s does not list %s, which %s writes (or end the "
                            "fields with %s)" % (DOC, doc[name]["line"], name, " ".join(unlisted),
                                                 ", ".join(code[name]["where"]), ELIDED))
    for p in problems:
        print(p)
    if problems:
        print("log_events: %d problem(s); every event=NAME the code logs has a row in %s"
              % (len(problems), DOC))
        return 1
    print("log_events: %d events, each logged and listed in %s" % (len(code), DOC))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
