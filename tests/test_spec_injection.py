"""No user text can become spec structure (issue 10, item 1).

rpm reads a spec line by expanding its macros ('%%' becomes '%') and then looking at the
expanded line (rpm 4.18.0 and 4.20.1, build/parseSpec.c readLine, copyNextLineFinish,
isPart, parseLineType):
- a line that starts with '%' and a section name, in any ASCII case, followed by a blank
  or the end of the line, opens that section (isPart: rstrncasecmp);
- after ASCII blanks, '%if', '%include' and the other directives below are acted on
  (parseLineType: case-sensitive);
- after blanks, '#' makes the line a comment (handleComments).

Every name of both lists is put, in mixed case and with a shell line that would create a
sentinel file, into every field tap2rpm takes; rpm's own parser (rpmspec -P and -q), a real
rpmbuild -ba and rpm -qp --scripts then show that nothing was acted on: no extra section,
no directive, no macro, no sentinel, no included file's text, and the text read back is
the user's.  A value tap2rpm cannot write safely is refused with one line instead.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap2pkg.backends import rpm
from tap2pkg.backends.rpm import preamble
from tap2pkg.backends.rpm.specfile import render_spec
from tap2pkg.errors import UsageError
from tap2pkg.model import AppInfo, AppKind, PackageSpec
from tap2pkg.spec import Options, resolve
from tests.conftest import FIXTURES, MAINTAINER, require_tool
from tests.rpm_helpers import tap2rpm

# rpm 4.20.1, build/parseSpec.c, partList (rpm-4.20.1-release).  rpm 4.18.0 has the same
# list without %preuntrans and %postuntrans.  Matched with rstrncasecmp, ASCII only.
SECTIONS = (
    "%package", "%prep", "%generate_buildrequires", "%conf", "%build", "%install",
    "%check", "%clean", "%preun", "%postun", "%pretrans", "%posttrans", "%preuntrans",
    "%postuntrans", "%pre", "%post", "%files", "%changelog", "%description",
    "%triggerpostun", "%triggerprein", "%triggerun", "%triggerin", "%trigger",
    "%verifyscript", "%sepolicy", "%filetriggerin", "%filetrigger", "%filetriggerun",
    "%filetriggerpostun", "%transfiletriggerin", "%transfiletrigger",
    "%transfiletriggerun", "%transfiletriggerpostun", "%end", "%patchlist", "%sourcelist",
)
# rpm 4.20.1, build/rpmbuild_internal.h, lineTypes (the same in 4.18.0): conditionals and
# %include, matched case-sensitively after ASCII blanks; the first two take no argument.
DIRECTIVES_NO_ARG = ("%endif", "%else")
DIRECTIVES = (*DIRECTIVES_NO_ARG, "%if", "%ifarch", "%ifnarch", "%ifos", "%ifnos",
              "%include", "%elifarch", "%elifos", "%elif")
NAMES = SECTIONS + DIRECTIVES
_RPM_BLANKS = " \t\n\v\f\r"  # rpmstring.h risspace

SENTINEL = Path(f"/tmp/tap2pkg-spec-sentinel-{os.getpid()}")
SECRET = Path(f"/tmp/tap2pkg-spec-secret-{os.getpid()}")  # what %include would disclose
SECRET_TEXT = "SECRET-TEXT-4b1d"  # noqa: S105 - not a password
TOUCH = f"touch {SENTINEL}"
# Macros that would run a command or change what follows, if ever expanded.
MACROS = (f"%({TOUCH})", f"%{{lua: io.open('{SENTINEL}', 'w')}}",
          "%{expand:%%check}", "%{expand:%%include " + str(SECRET) + "}",
          "%global summary x", "%define _buildhost evil", "%undefine name", "%dnl x")

FIELDS = ("protocol", "description", "long_description", "maintainer", "license", "url",
          "depends", "package", "version", "user", "group", "twistd")
APP = AppInfo(kind=AppKind.PYTHON, filename="echo.tac", content=b"application = None\n")


# rpm's rtolower (rpmstring.h): ASCII only, unlike str.lower ('\u212a'.lower() == 'k').
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def rpm_part(line: str) -> str | None:
    """rpm's isPart: the section a spec line opens, if any."""
    for token in SECTIONS:
        head, rest = line[:len(token)], line[len(token):]
        if head.translate(_ASCII_LOWER) == token and (rest == "" or rest[0] in _RPM_BLANKS):
            return token
    return None


def rpm_directive(line: str) -> str | None:
    """rpm's parseLineType, after SKIPSPACE: the conditional or %include a line is."""
    line = line.lstrip(_RPM_BLANKS)
    for token in DIRECTIVES:
        if not line.startswith(token):
            continue
        rest = line[len(token):]
        if token in DIRECTIVES_NO_ARG:
            if not (rest[:1].isascii() and rest[:1].isalpha()):
                return token
        elif rest == "" or rest[0] in " \t":
            return token
    return None


_ARGUMENTS = {
    "%include": str(SECRET), "%if": "0", "%elif": "0", "%ifarch": "noarch x86_64",
    "%ifnarch": "noarch x86_64", "%elifarch": "noarch x86_64", "%ifos": "linux",
    "%ifnos": "linux", "%elifos": "linux", "%files": f"-f {SECRET}", "%package": "-n evil",
    "%endif": "", "%else": "",
}


def argument(name: str) -> str:
    """What makes each name do the most harm if rpm acted on it."""
    return _ARGUMENTS.get(name.lower(), "-p /bin/sh")


def mixed_case(name: str, flips: list[bool]) -> str:
    return "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=False))


@st.composite
def cased_names(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(NAMES))
    flips = draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    return mixed_case(name, flips)


def payloads(name: str) -> list[str]:
    """Ways a name could reach the start of an expanded spec line."""
    line = f"{name} {argument(name)}".rstrip()
    return [
        f"{line}\n{TOUCH}",  # at the start of the text
        f"Intro.\n{line}\n{TOUCH}\n%end",  # at the start of a later line
        f"   {line}\n{TOUCH}",  # after blanks (directives skip them)
        f"%{line}\n{TOUCH}",  # pre-escaped: '%%check' expands to '%check'
        f"Runs {line}; {TOUCH}",  # inside a line
        "word " * 15 + line,  # where folding at 79 columns would put it first
        line,  # a one-line value
    ]


@pytest.fixture(autouse=True, scope="module")
def _secret() -> object:
    SECRET.write_text(f"{SECRET_TEXT}\n%post\n{TOUCH}\n", encoding="utf-8")
    SENTINEL.unlink(missing_ok=True)
    yield
    SECRET.unlink(missing_ok=True)
    SENTINEL.unlink(missing_ok=True)


def options(field: str, value: str, **others: object) -> Options:
    values: dict[str, object] = {"maintainer": MAINTAINER, **others}
    if field == "depends":
        values["depends"] = (value,)
    else:
        values[field] = value
    return Options(tapfile=FIXTURES / "echo.tac", **values)  # type: ignore[arg-type]


def spec_for(field: str, value: str) -> PackageSpec | None:
    """The PackageSpec, or None when the value is refused (with one clear line)."""
    try:
        spec = resolve(options(field, value), APP, rpm.CONVENTIONS)
        render_spec(spec)
    except UsageError as exc:
        message = str(exc)
        assert "\n" not in message
        assert message.startswith("--") or message.startswith("SOURCE_DATE_EPOCH")
        return None
    return spec


SEP = "\n@@tap2pkg@@\n"
QUERY = SEP.join(["%{SUMMARY}", "%{DESCRIPTION}", "%{URL}", "%{PACKAGER}", "%{LICENSE}",
                  "%{CHANGELOGNAME}", "%{NAME}"])


def expected_description(spec: PackageSpec) -> str:
    """The user's text; a line longer than 79 columns is folded at spaces (rpmlint's
    limit), which changes where lines break and nothing else."""
    text = spec.long_description
    if all(len(line) <= preamble.DESCRIPTION_WIDTH for line in text.split("\n")):
        return text
    folded = preamble.description(text).replace("%%", "%")
    assert folded.split() == text.split()
    return folded


def expected_fields(spec: PackageSpec) -> list[str]:
    return [spec.summary, expected_description(spec), spec.url or "(none)", spec.maintainer,
            spec.license or "LicenseRef-Unspecified",
            f"{spec.maintainer} - {spec.version}-1", spec.name]


def parts_of(text: str) -> list[str]:
    return [part for line in text.splitlines() if (part := rpm_part(line))]


_BASELINE: dict[str, list[str]] = {}


def baseline_parts(tmp: Path) -> list[str]:
    """The sections of a spec made from harmless values, as rpm parses it."""
    if "parts" not in _BASELINE:
        spec = resolve(options("description", "harmless"), APP, rpm.CONVENTIONS)
        _BASELINE["parts"] = parts_of(rpmspec(spec, tmp, "-P"))
    return _BASELINE["parts"]


def rpmspec(spec: PackageSpec, tmp: Path, *args: str) -> str:
    path = tmp / f"{spec.name}.spec"
    path.write_text(render_spec(spec), encoding="utf-8")
    proc = subprocess.run(["rpmspec", *args, str(path)], capture_output=True, text=True,
                          check=False, timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    assert "extra tokens" not in proc.stderr, proc.stderr
    return proc.stdout


def assert_parsed_as_text(spec: PackageSpec, value: str, tmp: Path) -> None:
    """rpm's parser acts on nothing in spec: same sections as a harmless spec, no
    sentinel, no included text, and every field reads back as given."""
    parsed = rpmspec(spec, tmp, "-P")
    assert not SENTINEL.exists(), f"{value!r} ran a command while rpm parsed the spec"
    assert SECRET_TEXT not in parsed, f"{value!r} included {SECRET}"
    assert parts_of(parsed) == baseline_parts(tmp), f"{value!r} changed the sections"
    queried = rpmspec(spec, tmp, "-q", "--srpm", "--qf", QUERY)
    assert queried.split(SEP) == expected_fields(spec), f"{value!r} was not read as text"


# ---- the oracle itself, against rpm --------------------------------------------------


def test_the_name_lists_are_what_rpm_acts_on(tmp_path: Path) -> None:
    """Unescaped, mixed-case names do open sections and act as directives in rpm 4.18:
    the lists and the two matchers above describe the parser the tests rely on."""
    require_tool("rpmspec")
    spec = tmp_path / "raw.spec"
    spec.write_text(
        "Name: raw\nVersion: 1\nRelease: 1\nSummary: s\nLicense: MIT\n\n"
        f"%description\nline\n%chec\u212a\n%VerifyScript\n{TOUCH}\n%if 0\nhidden\n%endif\n"
        f"%include {SECRET}\n", encoding="utf-8")
    parsed = subprocess.run(["rpmspec", "-P", str(spec)], capture_output=True, text=True,
                            check=True).stdout
    assert "%VerifyScript" in parsed.splitlines()
    description = subprocess.run(["rpmspec", "-q", "--srpm", "--qf", "%{DESCRIPTION}",
                                  str(spec)], capture_output=True, text=True,
                                 check=True).stdout
    assert description == "line\n%chec\u212a"  # KELVIN SIGN is no 'k' to rpm
    assert "hidden" not in parsed and SECRET_TEXT in parsed
    assert rpm_part("%VerifyScript") == "%verifyscript"
    assert rpm_part("%POSTTRANS -p /bin/sh") == "%posttrans"
    assert rpm_part(" %check") is None and rpm_part("%checks") is None
    assert rpm_directive("  %if 0") == "%if" and rpm_directive("%IF 0") is None
    assert rpm_directive("%endif2") == "%endif" and rpm_directive("%iffy") is None
    assert rpm_part("\uff05check") is None and rpm_directive("\u00a0%if 1") is None
    assert rpm_part("%chec\u212a") is None  # KELVIN SIGN: not 'k' to rpm


# ---- the writer, by construction ---------------------------------------------------


@given(text=st.text(alphabet=st.sampled_from(" %#abcX\n\t\u00a0\uff05"), max_size=300))
def test_no_description_line_can_start_structure(text: str) -> None:
    """Whatever the text: refused, or no written line starts with '%' or '#' after
    blanks, and expanding '%%' gives the text back."""
    try:
        body = preamble.description(text)
    except UsageError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert message.startswith("--long_description: line ")
        return
    for line in body.split("\n"):
        expanded = line.replace("%%", "%")
        assert not expanded.lstrip(_RPM_BLANKS).startswith(("%", "#"))
        assert rpm_part(expanded) is None and rpm_directive(expanded) is None


@given(words=st.lists(st.sampled_from(["a", "%check", "#x", "bb", "%if", "cc" * 20, ""]),
                      max_size=60))
def test_folding_never_starts_a_line_with_percent(words: list[str]) -> None:
    line = "lead " + " ".join(words)
    folded = preamble.fold(line)
    assert " ".join(folded).split() == line.split()
    assert not [f for f in folded if f.startswith(("%", "#"))]


# ---- every field x every name x case, through rpm's parser -------------------------


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), name=cased_names(), form=st.integers(0, 6),
       macro=st.sampled_from(("", *MACROS)))
def test_names_in_any_field_are_never_acted_on(
    field: str, name: str, form: int, macro: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_tool("rpmspec")
    value = payloads(name)[form] + macro
    spec = spec_for(field, value)
    if spec is None:
        return
    assert_parsed_as_text(spec, value, tmp_path_factory.mktemp("spec"))


@pytest.mark.parametrize("name", NAMES)
def test_each_name_mid_line_reads_back_as_text(name: str, tmp_path: Path) -> None:
    """Every name, in every field that takes free text, in mixed case; the whole text
    read back by rpm is the user's."""
    require_tool("rpmspec")
    odd = mixed_case(name, [i % 2 == 1 for i in range(len(name))])
    line = f"{odd} {argument(name)}".rstrip()
    spec = resolve(
        Options(tapfile=FIXTURES / "echo.tac", maintainer=f"Ann {odd} <a@example.org>",
                protocol=f"{odd} x", description=f"{line} %(touch x)",
                long_description=f"See {line}\n  and {odd}\n\n{'word ' * 15}{line} {TOUCH}",
                url=f"https://example.org/{odd.lstrip('%')}%41"),
        APP, rpm.CONVENTIONS)
    assert_parsed_as_text(spec, line, tmp_path)


@pytest.mark.parametrize("name", ["%Check", "%POSTTRANS", "%Pretrans", "%Verifyscript",
                                  "%Files -f /etc/passwd", "%include /etc/passwd",
                                  "%if 0", "  %ifarch noarch", "%else", "%endif",
                                  "%%check", "#%check"])
def test_description_lines_rpm_would_act_on_are_refused(name: str) -> None:
    """What rpm cannot carry as text is refused, naming the line, never written."""
    value = f"Fine.\n{name}\n{TOUCH}"
    with pytest.raises(UsageError, match=r"^--long_description: line 2 starts with "):
        render_spec(resolve(options("long_description", value), APP, rpm.CONVENTIONS))


def test_look_alikes_are_text_to_rpm(tmp_path: Path) -> None:
    """rpm compares bytes and skips ASCII blanks only: a fullwidth percent sign, or a
    percent sign after a no-break or em space, is plain text, kept as typed."""
    require_tool("rpmspec")
    text = "\uff05check\n\u00a0%if 0\n\u2003%include /etc/passwd\n\ufe6aPOST"
    spec = resolve(options("long_description", text), APP, rpm.CONVENTIONS)
    assert_parsed_as_text(spec, text, tmp_path)


# ---- real builds: nothing runs at build time or on the machines that install ---------


def _built_fields(out: Path, name: str) -> tuple[list[str], str]:
    [package] = sorted(out.glob(f"{name}-*.noarch.rpm"))
    query = subprocess.run(["rpm", "-qp", "--qf", QUERY, str(package)], capture_output=True,
                           text=True, check=True).stdout
    scripts = subprocess.run(
        ["rpm", "-qp", "--scripts", "--triggers", "--filetriggers", str(package)],
        capture_output=True, text=True, check=True).stdout
    return query.split(SEP), scripts


def build_and_check(spec_options: list[str], spec: PackageSpec, out: Path) -> None:
    """Build with tap2rpm (rpmbuild -ba), then read the .rpm back with rpm."""
    require_tool("rpmbuild", "rpm")
    SENTINEL.unlink(missing_ok=True)
    assert tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q",
                    *spec_options]) == 0
    assert not SENTINEL.exists(), "a command from user text ran during rpmbuild"
    fields, scripts = _built_fields(out, spec.name)
    assert fields[:3] == expected_fields(spec)[:3]
    assert fields[3] == spec.maintainer  # Packager
    # The scriptlets hold tap2pkg's own text only: no user text, no included file.
    assert "touch" not in scripts and str(SENTINEL) not in scripts
    assert SECRET_TEXT not in scripts and "/etc/passwd" not in scripts
    srpm = next(out.glob("*.src.rpm"))
    source_fields = subprocess.run(["rpm", "-qp", "--qf", QUERY, str(srpm)],
                                   capture_output=True, text=True, check=True).stdout
    assert source_fields.split(SEP)[:2] == expected_fields(spec)[:2]


CLI_FIELDS = {"description": "-e", "long_description": "-l", "maintainer": "-m",
              "protocol": "-p", "url": "--url"}


def test_every_name_in_one_build(tmp_path: Path) -> None:
    """One real package whose text holds every section and directive name, mixed case,
    with shell lines after them: rpmbuild runs none of it, the scriptlets hold none of
    it, and rpm reads the description back as written."""
    lines = []
    for number, name in enumerate(NAMES):
        odd = mixed_case(name, [(i + number) % 2 == 1 for i in range(len(name))])
        lines.append(f"{number}: {odd} {argument(name)}".rstrip())
        lines.append(f"  {number} {TOUCH}")
    values = {"description": f"%Check %({TOUCH})", "long_description": "\n".join(lines),
              "maintainer": "Ann %Include /etc/passwd <a@example.org>",
              "protocol": "%POSTTRANS", "url": "https://example.org/%Files"}
    args = [item for field, value in values.items() for item in (CLI_FIELDS[field], value)]
    spec = resolve(Options(tapfile=FIXTURES / "echo.tac", **values),  # type: ignore[arg-type]
                   APP, rpm.CONVENTIONS)
    build_and_check(args, spec, tmp_path / "out")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(sorted(CLI_FIELDS)), name=cased_names(),
       form=st.sampled_from([4, 5, 6]))
def test_names_in_built_packages(field: str, name: str, form: int,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """fields x names x case, built for real (a sample: each build takes a second)."""
    value = payloads(name)[form]
    spec = spec_for(field, value)
    if spec is None:
        return
    args = [CLI_FIELDS[field], value]
    if field != "maintainer":
        args += ["-m", MAINTAINER]
    build_and_check(args, spec, tmp_path_factory.mktemp("b") / "out")


def test_escaped_text_expands_to_itself() -> None:
    """rpm's expansion turns '%%' into '%' and changes nothing else: the written text
    expands back to the user's exactly."""
    for text in ["100%", "%%", "%{x}", "%(id)", "a%", "%" * 7]:
        assert re.sub("%%", "%", preamble.escape(text)) == text
