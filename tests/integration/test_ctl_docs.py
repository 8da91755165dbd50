"""nexusctl --help and docs/nexusctl.md agree: every command of the command table has a section
(`## name`, or one naming it among others), every section names a command, and a section
documents --json exactly when its commands take it (man/check.sh does the same for the man
page's command list)."""
import os
import re

from conftest import NEXUSCTL, SOURCE_DIR, run_cmd


def help_commands():
    res = run_cmd([NEXUSCTL, "--help"])
    assert res.returncode == 0, res
    block = res.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*) ", block, re.M)]


def doc_sections():
    """{command name: its section's text} from the `## ` headings of docs/nexusctl.md."""
    with open(os.path.join(SOURCE_DIR, "docs", "nexusctl.md")) as f:
        text = f.read()
    sections = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        for name in re.split(r",\s*", heading.strip()):
            sections[name] = body
    return sections


def takes_json(command):
    res = run_cmd([NEXUSCTL, command, "--help"])
    assert res.returncode == 0, res
    return "--json (machine-readable output)" in res.stdout


def test_every_command_has_a_section_and_every_command_section_a_command():
    commands = help_commands()
    sections = doc_sections()
    assert "queue" in commands and "quiet" in commands and "stop" in commands
    missing = [c for c in commands if c not in sections]
    assert not missing, "commands of nexusctl --help without a section in docs/nexusctl.md: %s" \
        % missing
    general = {"Configuration and global options", "Exit status"}
    extra = [s for s in sections if s not in commands and s not in general]
    assert not extra, "sections of docs/nexusctl.md naming no command: %s" % extra


def test_json_is_documented_for_the_commands_that_take_it():
    sections = doc_sections()
    for command in help_commands():
        documented = "--json" in sections[command]
        assert documented == takes_json(command), \
            "%s: --json %s, but its section %s it" % (
                command, "accepted" if takes_json(command) else "refused",
                "does not mention" if not documented else "mentions")
