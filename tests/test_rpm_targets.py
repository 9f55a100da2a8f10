"""One spec per rpm target, read by rpm as each distribution's build hosts would read it.

No Fedora, EL or openSUSE build host can run here, so each is stated as the macro
definitions its own macro files make (each cited below), loaded into this host's rpm
(4.18) with rpmspec --load, and the spec is expanded with rpmspec -P: the test then reads
what the distribution's rpmbuild would put in the package.  The same specs are built for
real here, with Debian's rpm (no systemd macros: the inline fallbacks), and linted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tap2pkg.appfile import load
from tap2pkg.backends import rpm
from tap2pkg.backends.rpm.specfile import render_spec
from tap2pkg.spec import Options, resolve
from tap2pkg.targets import TARGETS
from tests.conftest import FIXTURES, MAINTAINER, require_tool
from tests.payload_helpers import PROJECT, TAC
from tests.rpm_helpers import lint_problems, read_rpm, require_rpm_tools, rpmlint, tap2rpm

HELPER = "/usr/lib/systemd/systemd-update-helper"

# systemd's src/rpm/macros.systemd.in (systemd v256, as Fedora and EL9 ship it; EL8's
# systemd 239 has the same macro names): the scriptlet macros, written out with the
# helper's path substituted.
FEDORA_SYSTEMD = f"""
%_unitdir /usr/lib/systemd/system
%_sysusersdir /usr/lib/sysusers.d
%systemd_post() if [ $1 -eq 1 ] && [ -x "{HELPER}" ]; then {HELPER} install-system-units %{{?*}} || : ; fi
%systemd_preun() if [ $1 -eq 0 ] && [ -x "{HELPER}" ]; then {HELPER} remove-system-units %{{?*}} || : ; fi
%systemd_postun_with_restart() if [ $1 -ge 1 ] && [ -x "{HELPER}" ]; then {HELPER} mark-restart-system-units %{{?*}} || : ; fi
%systemd_ordering OrderWithRequires(post): systemd
"""  # noqa: E501 - macro bodies are one line each, as rpm reads them

# openSUSE's systemd-rpm-macros, macros.systemd (github.com/bmwiedemann/openSUSE,
# packages/s/systemd-rpm-macros/macros.systemd at 033ddff): the SUSE names, presets
# recorded in %pre and applied in %post, and %systemd_ordering.
SUSE_SYSTEMD = f"""
%_unitdir /usr/lib/systemd/system
%_sysusersdir /usr/lib/sysusers.d
%service_add_pre() if [ -x {HELPER} ]; then {HELPER} mark-install-system-units %{{?*}} || : ; fi
%service_add_post() if [ -x {HELPER} ]; then {HELPER} install-system-units %{{?*}} || : ; fi
%service_del_preun() if [ $1 -eq 0 ] && [ -x {HELPER} ]; then {HELPER} remove-system-units %{{?*}} || : ; fi
%service_del_postun() if [ $1 -ge 1 ] && [ -x {HELPER} ]; then {HELPER} mark-restart-system-units %{{?*}} || : ; fi
%systemd_ordering OrderWithRequires(post): systemd
"""  # noqa: E501

# rpm's own macros.in: %__systemd_sysusers first appears in rpm 4.19 (rpm-4.19.0-release),
# and %{rpmversion} is a built-in macro from rpm 4.20 (rpm-4.20.0-release, macro.c); a
# definition stands in for the built-in here.
RPM_419 = "%__systemd_sysusers %{_rpmconfigdir}/sysusers.sh\n"
RPM_420 = RPM_419 + "%rpmversion 4.20.1\n"

# The distribution macros: redhat-rpm-config's macros.dist (%fedora, %rhel, %dist) and
# openSUSE's rpm-config-SUSE (%suse_version; openSUSE sets no %dist, OBS numbers releases).
DISTRO = {
    "fedora": "%fedora 42\n%dist .fc42\n" + FEDORA_SYSTEMD + RPM_420,
    "el8": "%rhel 8\n%dist .el8\n" + FEDORA_SYSTEMD,
    "el9": "%rhel 9\n%dist .el9\n" + FEDORA_SYSTEMD,
    "opensuse-leap-15.6": "%suse_version 1560\n" + SUSE_SYSTEMD,
    "opensuse-tumbleweed": "%suse_version 1699\n" + SUSE_SYSTEMD + RPM_420,
}
RPM_TARGETS = sorted(name for name, t in TARGETS.items() if t.family == "rpm")
# Put into the description: -P shows what these macros hold once the preamble is read.
PROBE = ("probe: policy=%{?build_mtime_policy} clamp=%{?clamp_mtime_to_source_date_epoch}"
         " host=%{?_buildhost} packager=%{?packager}\n")


def test_every_rpm_target_is_stated() -> None:
    assert sorted(DISTRO) == RPM_TARGETS


def expand(target: str, tmp: Path, *, builder: str = "") -> str:
    require_tool("rpmspec")
    fixture = FIXTURES / "echo.tac"
    spec = resolve(Options(tapfile=fixture, maintainer=MAINTAINER, init="systemd,sysv",
                           target=target, release="3"), load(fixture), rpm.CONVENTIONS)
    path = tmp / f"{target}.spec"
    path.write_text(render_spec(spec).replace("\n%description\n", f"\n%description\n{PROBE}", 1),
                    encoding="utf-8")
    macros = tmp / f"{target}.macros"
    macros.write_text(DISTRO[target] + builder, encoding="utf-8")
    proc = subprocess.run(["rpmspec", "-P", "--load", str(macros), str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def probe_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("probe: "))


def section(text: str, header: str) -> str:
    """The body of one section of an expanded spec, up to the next section."""
    match = re.search(rf"^{re.escape(header)}\n(.*?)(?=^%[a-z]+\b|\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


@pytest.mark.parametrize("target", RPM_TARGETS)
def test_spec_as_the_distribution_reads_it(target: str, tmp_path: Path) -> None:
    text = expand(target, tmp_path)
    profile = TARGETS[target]
    dist = {"fedora": ".fc42", "el8": ".el8", "el9": ".el9"}.get(target, "")
    assert f"\nRelease:        3{dist}\n" in text
    assert "\nBuildRequires:  systemd-rpm-macros\n" in text
    assert "\nBuildRequires:  python3\n" in text
    assert f"\nRequires:       {profile.twisted_depends}\n" in text
    assert "Group:" not in text and "%setup" not in text
    # The distribution's own scriptlet macros, not the fallbacks.
    assert "systemctl --no-reload preset" not in text
    post, preun, postun = (section(text, h) for h in ("%post", "%preun", "%postun"))
    assert f"{HELPER} install-system-units twisted-echo.service" in post
    assert f"{HELPER} remove-system-units twisted-echo.service" in preun
    assert f"{HELPER} mark-restart-system-units twisted-echo.service" in postun
    pre = section(text, "%pre")
    if profile.macro_flavour == "suse":
        assert "OrderWithRequires(post): systemd" in text
        assert f"{HELPER} mark-install-system-units twisted-echo.service" in pre
    # The user: from the sysusers.d file where rpm >= 4.19 reads it, else from %pre.
    if profile.sysusers:
        assert "useradd" not in text and "Requires(pre)" not in text
        if profile.macro_flavour != "suse":
            assert "\n%pre\n" not in text
    else:
        assert "useradd -r -g twisted-echo" in pre
        shadow = "shadow" if profile.macro_flavour == "suse" else "shadow-utils"
        assert f"\nRequires(pre):  {shadow}\n" in text
    # The mtime policy in the form this rpm reads; the build host and packager are
    # tap2pkg's because this builder chose none.
    probe = probe_line(text)
    if profile.rpm_version >= (4, 20):  # the deprecated setting is left alone
        assert "policy=clamp_to_source_date_epoch " in probe and "clamp=1" not in probe
    else:
        assert "policy= clamp=1 " in probe
    assert f"host=tap2pkg packager={MAINTAINER}" in probe
    # Every scriptlet, as this distribution's rpmbuild writes it, is valid sh.
    for header in ("%pre", "%post", "%preun", "%postun", "%post sysvinit",
                   "%preun sysvinit", "%postun sysvinit"):
        body = section(text, header)
        proc = subprocess.run(["sh", "-n"], input=body, text=True, capture_output=True,
                              check=False)
        assert proc.returncode == 0, f"{header}: {proc.stderr}"


@pytest.mark.parametrize("target", ["fedora", "opensuse-leap-15.6"])
def test_settings_the_build_system_made_are_kept(target: str, tmp_path: Path) -> None:
    """Koji, OBS or ~/.rpmmacros decide the build host, packager and mtime policy."""
    builder = ("%_buildhost buildvm-01.example.org\n%packager Build System <b@example.org>\n"
               "%build_mtime_policy clamp_to_buildtime\n"
               "%clamp_mtime_to_source_date_epoch 2\n")
    probe = probe_line(expand(target, tmp_path, builder=builder))
    assert "policy=clamp_to_buildtime clamp=2 host=buildvm-01.example.org " in probe
    assert probe.endswith("packager=Build System <b@example.org>")


@pytest.mark.slow
@pytest.mark.parametrize("target", RPM_TARGETS)
def test_each_target_builds_and_lints_clean_here(target: str, tmp_path: Path) -> None:
    """rpmbuild 4.18 and rpmlint 2.4 (this host) on every target's spec: the inline
    fallbacks make it build without any distribution macros, and nothing is left to
    lint."""
    require_rpm_tools()
    out = tmp_path / "out"
    assert tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q", "-m", MAINTAINER,
                    "--init", "systemd,sysv", "--target", target, "-V", "1:2.0",
                    "--release", "5"]) == 0
    main = read_rpm(out / "twisted-echo-2.0-5.noarch.rpm")
    assert main.ints("serial") == [1]  # rpmfile's name for the Epoch tag
    assert TARGETS[target].twisted_depends in main.requires
    packages = sorted(out.glob("*.rpm"))
    assert len(packages) == 3
    config = out / "rpmbuild" / "SPECS" / "twisted-echo.rpmlint.toml"
    assert lint_problems(rpmlint(packages, config, scratch=tmp_path)) == []


# python-rpm-macros' macros.pybytecompile (src.fedoraproject.org/rpms/python-rpm-macros,
# as mirrored at sailfishos-mirror/python-rpm-macros 03a1e3b): the branch for Python >= 3.9,
# which compiles a tree for both optimization levels with paths relative to the buildroot;
# and %python3 from macros.python3.
FEDORA_PY_BYTE_COMPILE = """
%python3 /usr/bin/python3
%py_byte_compile() env PYTHONHASHSEED=0 %1 -s -B -m compileall -o 0 -o 1 -s $RPM_BUILD_ROOT -p / %2
"""


@pytest.mark.slow
def test_private_python_is_byte_compiled_where_the_macro_exists(tmp_path: Path) -> None:
    """With Fedora's py_byte_compile (as python3-rpm-macros defines it), the --include'd
    modules are shipped with their byte code for both optimization levels; with Debian's
    rpm, which lacks the macro, the spec still builds, without byte code."""
    require_rpm_tools()
    out = tmp_path / "out"
    assert tap2rpm(["-t", str(TAC), "-o", str(out), "-q", "-m", MAINTAINER, "--target",
                    "fedora", "--include", str(PROJECT / "romanserve")]) == 0
    app = "/usr/share/twisted-romanserve/app/romanserve"
    plain = read_rpm(next(out.glob("*.noarch.rpm"))).files()
    assert f"{app}/protocol.py" in plain
    assert not [p for p in plain if p.endswith(".pyc")]
    topdir = out / "rpmbuild"
    spec = next((topdir / "SPECS").glob("*.spec"))
    assert "BuildRequires:  python3-rpm-macros" in spec.read_text()
    macros = tmp_path / "macros.fedora"
    macros.write_text(FEDORA_PY_BYTE_COMPILE, encoding="utf-8")
    built = tmp_path / "built"
    proc = subprocess.run(
        ["rpmbuild", "-bb", "--nodeps", "--load", str(macros),
         "--define", f"_topdir {topdir}", "--define", f"_rpmdir {built}", str(spec)],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    compiled = read_rpm(next(built.glob("*/*.rpm"))).files()
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    for name in ("protocol", "numerals"):
        for suffix in ("", ".opt-1"):
            assert f"{app}/__pycache__/{name}.cpython-{version}{suffix}.pyc" in compiled
