"""Arbitrary text in every user-supplied field: either one clear refusal, or a package
whose control files carry no injected field and whose shell scripts (maintainer scripts,
init script, defaults file) never execute the text.

The payloads write a sentinel file with shell redirection, which works even with an
empty PATH, so a payload that ever ran as shell code would leave the sentinel behind."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from debian.deb822 import Deb822
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap2pkg.backends import debian
from tap2pkg.backends.debian.binary import control_files, payload
from tap2pkg.backends.debian.scripts import binary_scripts
from tap2pkg.backends.debian.source import render_source
from tap2pkg.errors import UsageError
from tap2pkg.model import AppInfo, AppKind
from tap2pkg.spec import Options, resolve
from tests.conftest import MAINTAINER
from tests.maintscripts import SEQUENCES, run_sequence

SENTINEL = "/tmp/tap2pkg-sentinel-DO-NOT-CREATE"
PAYLOADS = [
    f"$(echo pwned > {SENTINEL})",
    f"`echo pwned > {SENTINEL}`",
    f"; echo pwned > {SENTINEL}",
    f"\"; echo pwned > {SENTINEL}; \"",
    f"'; echo pwned > {SENTINEL}; '",
    f"\necho pwned > {SENTINEL}\n",
    "x\nDepends: evil-package",
    "x\n\nPackage: evil",
    "%{lua: os.execute('echo pwned')}",
    "${IFS}$(id)",
    "Jürgen <j@ex.org> ☃",
    "\\\n",
    "a" * 300,
    "",
]
FIELDS = ["protocol", "package", "version", "maintainer", "description", "long_description",
          "user", "group", "depends", "twistd", "license", "url"]
APP = AppInfo(kind=AppKind.PYTHON, filename="echo.tac", content=b"application = None\n")

text = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.builds(lambda a, p, b: a + p + b, st.text(max_size=5), st.sampled_from(PAYLOADS),
              st.text(max_size=5)),
)

SOURCE_FIELDS = {"Source", "Section", "Priority", "Maintainer", "Build-Depends",
                 "Standards-Version", "Rules-Requires-Root", "Homepage"}
BINARY_FIELDS = {"Package", "Architecture", "Pre-Depends", "Depends", "Description"}
DEB_FIELDS = {"Package", "Version", "Architecture", "Maintainer", "Installed-Size",
              "Pre-Depends", "Depends", "Section", "Priority", "Homepage", "Description"}


def _options(field: str, value: str) -> Options:
    values: dict[str, object] = {"maintainer": MAINTAINER}
    if field == "depends":
        values["depends"] = (value,)
    elif field == "version":
        values["version"] = value
    else:
        values[field] = value
    return Options(tapfile=Path("echo.tac"), **values)  # type: ignore[arg-type]


def _run_shell(script: str, args: list[str], tmp: Path) -> None:
    subprocess.run(["/bin/sh", "-c", script, "script", *args], env={"PATH": str(tmp / "none")},
                   capture_output=True, check=False, timeout=10)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.parametrize("field", FIELDS)
@given(value=text)
def test_field_is_refused_or_inert(field: str, value: str, tmp_path_factory: pytest.TempPathFactory
                                   ) -> None:
    sentinel = Path(SENTINEL)
    sentinel.unlink(missing_ok=True)
    try:
        spec = resolve(_options(field, value), APP, debian.CONVENTIONS)
    except UsageError as exc:
        message = str(exc)
        assert message
        assert "\n" not in message
        return
    tree = render_source(spec)

    # Control files: exactly the fields we write, nothing injected.
    source_para, binary_para, *rest = Deb822.iter_paragraphs(tree.text("debian/control"))
    assert rest == []
    assert set(source_para) <= SOURCE_FIELDS
    assert set(binary_para) <= BINARY_FIELDS
    files = payload(spec, tree)
    meta = control_files(spec, files, [])
    [deb_control] = list(Deb822.iter_paragraphs(meta.text("control")))
    assert set(deb_control) <= DEB_FIELDS
    assert deb_control["Package"] == spec.name

    # Shell: the defaults file, the init script and every maintainer script, run.
    tmp = tmp_path_factory.mktemp("shell")
    _run_shell(tree.text(f"debian/{spec.name}.default"), [], tmp)
    init = tree.text(f"debian/{spec.name}.init").replace("/lib/lsb/init-functions", "/dev/null")
    for action in ("status", "start", "stop", "bogus"):
        _run_shell(init, [action], tmp)
    scripts = binary_scripts(spec)
    for action in SEQUENCES:
        run_sequence(scripts, action, tmp / action, package=spec.name, systemd_host=True)
    assert not sentinel.exists(), f"{field}={value!r} was executed"

    # The unit: no specifier or line continuation from user text.
    unit = tree.text(f"debian/{spec.name}.service")
    description = next(line for line in unit.splitlines() if line.startswith("Description="))
    assert not description.endswith("\\")
    assert "%" not in description.replace("%%", "")


# ---- RPM: the spec, expanded by rpm itself ----

RPM_PAYLOADS = [
    f"%(echo pwned > {SENTINEL})",
    f"%{{lua: io.open('{SENTINEL}', 'w'):write('pwned')}}",
    "%{_sysconfdir}",
    "100%",
    "%%",
    "x\nRequires: evil-package",
    "x\n%post\necho pwned",
    f"$(echo pwned > {SENTINEL})",
]
RPM_TAGS = {"Name", "Epoch", "Version", "Release", "Summary", "License", "Group", "Source0",
            "BuildArch", "BuildRequires", "Requires", "Requires(pre)", "Requires(post)",
            "Requires(preun)", "Requires(postun)", "URL", "Packager"}
rpm_text = st.one_of(
    st.sampled_from(RPM_PAYLOADS + PAYLOADS),
    st.builds(lambda a, p, b: a + p + b, st.text(max_size=5), st.sampled_from(RPM_PAYLOADS),
              st.text(max_size=5)),
)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@pytest.mark.parametrize("field", FIELDS)
@given(value=rpm_text)
def test_rpm_field_is_refused_or_never_a_macro(
    field: str, value: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tap2pkg.backends import rpm
    from tap2pkg.backends.rpm.specfile import render_spec
    from tests.conftest import require_tool

    require_tool("rpmspec")
    sentinel = Path(SENTINEL)
    sentinel.unlink(missing_ok=True)
    try:
        spec = resolve(_options(field, value), APP, rpm.CONVENTIONS)
        text = render_spec(spec)
    except UsageError as exc:
        message = str(exc)
        assert "\n" not in message
        return
    tmp = tmp_path_factory.mktemp("spec")
    path = tmp / f"{spec.name}.spec"
    path.write_text(text)
    proc = subprocess.run(["rpmspec", "-P", str(path)], capture_output=True, text=True,
                          check=False, timeout=30)
    assert not sentinel.exists(), f"{field}={value!r} ran while rpm parsed the spec"
    assert proc.returncode == 0, proc.stderr
    preamble = proc.stdout.split("\n%description", 1)[0]
    tags = {line.split(":", 1)[0] for line in preamble.splitlines()
            if re.match(r"^[A-Za-z][A-Za-z0-9()]*:\s", line)}
    assert tags <= RPM_TAGS, f"{field}={value!r} injected {tags - RPM_TAGS}"
    sections = re.findall(r"^%(post|pre|preun|postun|files|install)\b", proc.stdout, re.M)
    assert sections.count("post") <= 1 and sections.count("files") <= 2
