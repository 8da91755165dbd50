"""scripts/log_events.py, the check behind ctest log_events, on a small tree of its own: it
reads log calls as the compiler would (formats split over lines, log_write's levels, comments
and tests left out) and names each disagreement with docs/operations.md's "Log events"."""
import os
import subprocess
import sys

from conftest import SOURCE_DIR

SCRIPT = os.path.join(SOURCE_DIR, "scripts", "log_events.py")

SOURCE = r'''
/* log_warn("event=in_a_comment"); */
static void f(int bad, const char *fmt)
{
    log_info("event=listed a=%d", 1);
    log_write(bad ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
              "event=split_over "
              "lines b=%s c=%d", log_q("x, y"), g(1, 2));
    log_error("event=not_listed d=%s", "e");
    log_debug("event=wrong_level");
    log_warn("event=%s", "built_at_run_time");
    log_warn(fmt, 1);
    log_info("no event here");
}
'''

DOC = '''# Operations

## Log events

| event | level | fields | what to do |
| --- | --- | --- | --- |
| `listed` | info | a | nothing |
| `split_over` | warn, info | b c | warn: look |
| `wrong_level` | info | | nothing |
| `no_longer_logged` | warn | | nothing |

## Source
'''


def check(root, *args):
    return subprocess.run([sys.executable, SCRIPT, *args, str(root)], capture_output=True,
                          text=True, timeout=30)


def tree(tmp_path, source=SOURCE, doc=DOC):
    for layer in ("lib", "conf", "queue", "sql", "jobs", "daemon", "ctl"):
        (tmp_path / layer).mkdir(parents=True)
    (tmp_path / "daemon" / "a.c").write_text(source)
    (tmp_path / "daemon" / "a_test.c").write_text('log_info("event=only_in_a_test");\n')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "operations.md").write_text(doc)
    return tmp_path


def test_each_disagreement_is_named_with_its_place(tmp_path):
    res = check(tree(tmp_path))
    assert res.returncode == 1, res
    lines = res.stdout.splitlines()
    assert lines[:-1] == [
        'daemon/a.c:11: the format does not open with event=NAME (a literal name): "event=%s"',
        "daemon/a.c:12: the format is not a string literal: fmt",
        'daemon/a.c:13: the format does not open with event=NAME (a literal name): '
        '"no event here"',
        'event=not_listed is logged (daemon/a.c:9) but not listed in docs/operations.md, '
        '"## Log events"',
        "docs/operations.md:10: event=no_longer_logged is listed but no log call logs it",
        "docs/operations.md:9: event=wrong_level is listed at info but logged at debug "
        "(daemon/a.c:10)",
    ], res.stdout
    assert lines[-1].startswith("log_events: 6 problem(s)")


def test_a_tree_that_agrees_passes_and_lists_each_event_with_its_fields(tmp_path):
    source = SOURCE.split("    log_error(")[0] + "}\n"
    doc = DOC.replace("| `wrong_level` | info | | nothing |\n", "").replace(
        "| `no_longer_logged` | warn | | nothing |\n", "")
    root = tree(tmp_path, source, doc)
    res = check(root)
    assert res.returncode == 0, res.stdout
    assert res.stdout == "log_events: 2 events, each logged and listed in docs/operations.md\n"
    listing = check(root, "--list").stdout.splitlines()
    assert [line.split() for line in listing] == [
        ["listed", "info", "a", "(daemon/a.c:5)"],
        ["split_over", "warn,", "info", "b", "c", "(daemon/a.c:6)"],
    ]


def test_rows_are_read_only_under_log_events_and_must_name_known_levels(tmp_path):
    doc = DOC.replace("| `listed` | info |", "| `listed` | notice |") + \
        "| `elsewhere` | info | | a table of another section |\n"
    res = check(tree(tmp_path, doc=doc))
    assert ("docs/operations.md:7: listed: levels must be words of error, warn, info, debug "
            "(got notice)") in res.stdout
    assert "elsewhere" not in res.stdout


def test_fields_are_those_the_formats_write_unless_the_row_ends_them_with_dots(tmp_path):
    doc = DOC.replace("| `listed` | info | a |", "| `listed` | info | a z |").replace(
        "| `split_over` | warn, info | b c |", "| `split_over` | warn, info | b |")
    res = check(tree(tmp_path, doc=doc))
    assert ("docs/operations.md:7: event=listed lists z, which no log call of it writes "
            "(daemon/a.c:5)") in res.stdout
    assert ("docs/operations.md:8: event=split_over does not list c, which daemon/a.c:6 writes "
            "(or end the fields with ...)") in res.stdout
    res = check(tree(tmp_path / "dots", doc=doc.replace("| b |", "| b ... |")))
    assert "split_over" not in res.stdout, res.stdout
