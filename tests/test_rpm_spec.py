"""The RPM backend up to the build: defaults and grammars, the spec text, its scriptlets,
the init script, the source tarball, the rpmlint settings and the kept-tree guard.  No rpm
tools needed."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from tap2pkg.appfile import load
from tap2pkg.backends import rpm
from tap2pkg.backends.rpm import keep, lint, preamble, scriptlets, source
from tap2pkg.backends.rpm.build import render_tree
from tap2pkg.backends.rpm.files import shutdown_file
from tap2pkg.backends.rpm.specfile import render_spec
from tap2pkg.errors import BuildError, UsageError
from tap2pkg.model import AppInfo, AppKind, PackageSpec
from tap2pkg.services import Layout, init_script
from tap2pkg.spec import Options, resolve
from tests.conftest import EPOCH, FIXTURES, MAINTAINER


def make_spec(fixture: str = "echo.tac", **options: object) -> PackageSpec:
    app = load(FIXTURES / fixture, None)
    return resolve(Options(tapfile=FIXTURES / fixture, **options),  # type: ignore[arg-type]
                   app, rpm.CONVENTIONS)


def test_original_defaults() -> None:
    spec = make_spec()
    assert spec.name == "twisted-echo"
    assert spec.version == "1.0"
    assert spec.maintainer == "tap2rpm"
    assert spec.summary == "A TCP server for echo"
    assert spec.long_description == "Automatically created by tap2rpm"
    assert spec.twistd == "/usr/bin/twistd"
    assert spec.init_systems == ("systemd",)
    assert (spec.user, spec.group) == ("twisted-echo", "twisted-echo")
    assert spec.timestamp == int(EPOCH)


def test_maintainer_needs_no_email() -> None:
    assert make_spec(maintainer="Build Bot").maintainer == "Build Bot"
    with pytest.raises(UsageError, match="--maintainer"):
        make_spec(maintainer="two\nlines")


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ("foo", "foo"),
        ("foo >= 1.2", "foo >= 1.2"),
        ("foo>=1:1.2-3.fc40", "foo >= 1:1.2-3.fc40"),
        ("python3dist(twisted) >= 22", "python3dist(twisted) >= 22"),
        ("/usr/bin/twistd", "/usr/bin/twistd"),
        ("foo (>= 1.2)", "foo >= 1.2"),  # Debian's spelling, as tap2deb takes it
        ("foo (<< 2)", "foo < 2"),
    ],
)
def test_dependencies(given: str, written: str) -> None:
    assert preamble.rpm_dependency(given) == written


@pytest.mark.parametrize("bad", ["foo | bar", "(foo or bar)", "foo;rm", "foo >=", "%{name}",
                                 "foo >= 1%2"])
def test_bad_dependencies(bad: str) -> None:
    with pytest.raises(UsageError, match="--depends"):
        preamble.rpm_dependency(bad)


def test_depends_are_comma_separated_and_repeatable() -> None:
    spec = make_spec(depends=("a, b >= 2", "c"))
    assert spec.depends == ("a", "b >= 2", "c")
    assert "Requires:       b >= 2\n" in render_spec(spec)


def test_percent_signs_in_user_text_are_escaped() -> None:
    spec = make_spec(description="Echo 100% of %{name}", long_description="All 50%\n%{x}",
                     maintainer="Ann 5% <a@example.org>", license="MIT", url="https://x/%20")
    text = render_spec(spec)
    assert "Summary:        Echo 100%% of %%{name}\n" in text
    assert "\n%description\nAll 50%%\n%%{x}\n" in text
    assert "URL:            https://x/%%20\n" in text
    # A %global body is expanded twice (when defined, when used): escaped twice.
    assert "%global packager Ann 5%%%% <a@example.org>\n" in text
    assert "* Tue Nov 14 2023 Ann 5%% <a@example.org> - 1.0-1\n" in text


def test_description_is_folded_and_kept() -> None:
    long = "word " * 30 + "\n\n  indented, kept as it is " + "x" * 80 + "\n %post indented"
    body = preamble.description(long.strip())
    lines = body.split("\n")
    assert all(len(line) <= 79 for line in lines if not line.startswith(" "))
    assert "" in lines
    assert "  indented, kept as it is " + "x" * 80 in lines
    assert " %%post indented" in lines


@pytest.mark.parametrize(("text", "message"), [
    ("ok\n%post", "line 2 starts with '%post'"),
    ("%description more", "line 1 starts with '%description'"),
    ("ok\n  # comment", "line 2 starts with '#'"),
])
def test_description_lines_rpm_would_misread_are_refused(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        preamble.description(text)


def test_changelog_date() -> None:
    assert preamble.changelog_date(int(EPOCH)) == "Tue Nov 14 2023"
    assert preamble.changelog_date(0) == "Mon Jan 01 1990"  # rpm refuses earlier dates


def test_spec_for_systemd() -> None:
    text = render_spec(make_spec())
    for line in ("Name:           twisted-echo", "Version:        1.0", "Release:        1",
                 "BuildArch:      noarch", "Requires:       python3-twisted",
                 "Source0:        %{name}-%{version}.tar.gz", "%global _unitdir %{_prefix}"
                 "/lib/systemd/system", "%if 0%{?systemd_post:1}",
                 "%systemd_post twisted-echo.service", "%systemd_preun twisted-echo.service",
                 "%systemd_postun_with_restart twisted-echo.service",
                 "%config(noreplace) %attr(0644,root,root) %{_sysconfdir}/%{name}/echo.tac",
                 "%config(noreplace) %attr(0644,root,root) %{_sysconfdir}/sysconfig/%{name}",
                 "%attr(0644,root,root) %{_unitdir}/%{name}.service",
                 "%dir %attr(0755,twisted-echo,twisted-echo) %{_localstatedir}/lib/%{name}",
                 "%ghost %attr(0644,twisted-echo,twisted-echo) "
                 "%{_localstatedir}/lib/%{name}/echo-shutdown.tap",
                 "%global use_source_date_epoch_as_buildtime 1",
                 "%global clamp_mtime_to_source_date_epoch 1", "%global _buildhost tap2pkg",
                 "* Tue Nov 14 2023 tap2rpm - 1.0-1",
                 "- Created by tap2rpm from echo.tac."):
        assert f"\n{line}\n" in text, line
    assert "chkconfig" not in text
    assert "%package" not in text
    # Comments never hold a '%': rpm would expand it.
    assert not [line for line in text.splitlines() if line.startswith("#") and "%" in line]


def test_spec_for_sysv_only() -> None:
    text = render_spec(make_spec(init="sysv"))
    assert "%package" not in text
    assert "systemd_post" not in text
    assert "\n%post\n" in text and "chkconfig --add twisted-echo" in text
    assert "%attr(0755,root,root) %{_sysconfdir}/rc.d/init.d/%{name}\n" in text
    assert "%ghost %attr(0644,root,root) /run/%{name}/%{name}.pid\n" in text
    assert "Requires(post): chkconfig\n" in text


def test_spec_for_both_puts_the_init_script_in_a_subpackage() -> None:
    text = render_spec(make_spec(init="systemd,sysv"))
    assert "\n%package sysvinit\n" in text
    assert "Requires:       %{name} = %{version}-%{release}\n" in text
    files = text.split("\n%files sysvinit\n")[1]
    assert "%{_sysconfdir}/rc.d/init.d/%{name}" in files
    main = text.split("\n%files\n")[1].split("\n%files sysvinit\n")[0]
    assert "init.d" not in main
    assert "\n%post sysvinit\n" in text and "\n%preun sysvinit\n" in text


@pytest.mark.parametrize("init", ["systemd", "sysv", "systemd,sysv"])
def test_scriptlet_fallbacks_are_valid_sh(init: str) -> None:
    """The inline branch of every scriptlet (what runs without the systemd macros)."""
    for header, body in scriptlets.sections(make_spec(init=init)):
        inline = "\n".join(line for line in body.splitlines() if not line.startswith("%"))
        proc = subprocess.run(["sh", "-n"], input=inline, text=True, capture_output=True,
                              check=False)
        assert proc.returncode == 0, f"{header}: {proc.stderr}"


def test_scriptlets_guard_on_their_argument() -> None:
    sections = dict(scriptlets.sections(make_spec(init="systemd,sysv")))
    assert "if [ $1 -eq 1 ]; then" in sections["%post"]
    assert "if [ $1 -eq 0 ]; then" in sections["%preun"]
    assert "if [ $1 -ge 1 ]; then" in sections["%postun"]
    assert 'if [ "$1" -eq 0 ]; then' in sections["%preun sysvinit"]
    assert 'if [ "$1" -ge 1 ]; then' in sections["%postun sysvinit"]
    assert "userdel" not in "".join(sections.values())


def _init_script(tmp_path: Path) -> Path:
    spec = make_spec(init="sysv")
    script = tmp_path / "init"
    layout = Layout(defaults_dir=str(tmp_path / "no-such-sysconfig"),
                    initd_dir="/etc/rc.d/init.d", init_template="service/init.redhat.j2")
    script.write_text(init_script(spec, layout), encoding="utf-8")
    return script


def test_init_script(tmp_path: Path) -> None:
    script = _init_script(tmp_path)
    text = script.read_text(encoding="utf-8")
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    assert "\n# chkconfig: 2345 85 15\n" in text
    assert "\n# Provides:          twisted-echo\n" in text
    assert "LOCKFILE=/var/lock/subsys/twisted-echo\n" in text
    assert '--python="$APPFILE"' in text
    # It runs: status of a service that is not running is LSB's 3; reload is refused.
    status = subprocess.run(["sh", str(script), "status"], capture_output=True, text=True,
                            check=False)
    assert (status.returncode, status.stdout) == (3, "twisted-echo is stopped\n")
    reload = subprocess.run(["sh", str(script), "reload"], capture_output=True, text=True,
                            check=False)
    assert reload.returncode == 3
    usage = subprocess.run(["sh", str(script)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "condrestart" in usage.stderr


def test_tarball_is_reproducible_and_root_owned() -> None:
    spec = make_spec(init="systemd,sysv")
    files = source.service_files(spec)
    first = source.tarball(spec, files)
    assert source.tarball(spec, source.service_files(spec)) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["twisted-echo-1.0", *(
        f"twisted-echo-1.0/{name}" for name in (
            "README", "echo.tac", "twisted-echo.init", "twisted-echo.ready", "twisted-echo.service",
            "twisted-echo.sysconfig", "twisted-echo.sysusers"))]
    assert {(m.uid, m.gid, m.uname, m.mtime) for m in members} == {(0, 0, "root", int(EPOCH))}
    modes = {m.name.rsplit("/", 1)[-1]: m.mode for m in members}
    assert modes["twisted-echo.init"] == 0o755
    assert modes["echo.tac"] == 0o644


def test_service_files_read_the_sysconfig_file() -> None:
    files = source.service_files(make_spec(init="systemd,sysv"))
    assert "EnvironmentFile=-/etc/sysconfig/twisted-echo\n" in files.text(
        "twisted-echo.service")
    assert "read by /etc/rc.d/init.d/twisted-echo and twisted-echo.service" in files.text(
        "twisted-echo.sysconfig")
    assert files.text("twisted-echo.sysusers").endswith(
        'u twisted-echo - "twisted-echo service" /var/lib/twisted-echo\n')


def test_sysusers_with_a_separate_group() -> None:
    text = source.service_files(make_spec(user="echoer", group="echo")).text(
        "twisted-echo.sysusers")
    assert "\ng echo -\nu echoer -:echo " in text


def test_rpmlint_settings_parse_and_match_rpmlints_lines() -> None:
    spec = make_spec(init="systemd,sysv")
    config = tomllib.loads(lint.rpmlint_config(spec))
    assert config["StandardUsers"] == ["twisted-echo"]
    filters = [re.compile(pattern) for pattern in config["Filters"]]

    def hidden(line: str) -> bool:
        return any(f.search(line) for f in filters)

    assert hidden("twisted-echo.noarch: W: invalid-license LicenseRef-Unspecified")
    assert hidden("twisted-echo-sysvinit.noarch: W: requires-on-release twisted-echo = 1.0-1")
    assert hidden("twisted-echo.spec: W: invalid-url Source0: twisted-echo-1.0.tar.gz")
    assert not hidden("twisted-echo.noarch: E: no-signature")
    assert not hidden("other.noarch: W: invalid-license MIT")
    with_url = tomllib.loads(lint.rpmlint_config(make_spec(url="https://example.org")))
    assert not [f for f in with_url["Filters"] if "no-url-tag" in f]


def test_kept_tree_guard(tmp_path: Path) -> None:
    spec = make_spec(maintainer=MAINTAINER)
    tree = render_tree(spec)
    topdir = tmp_path / "rpmbuild"
    assert keep.check(topdir, spec.name, tree, force=False) == []
    new = tmp_path / "new"
    tree.write(new, with_manifest=False)
    topdir.mkdir()
    assert keep.publish(new, topdir, spec.name, tree, keep=[]) is None
    assert keep.check(topdir, spec.name, tree, force=False) == []
    # rpmbuild's own output and other packages' files are none of its business.
    (topdir / "RPMS").mkdir()
    (topdir / "SPECS" / "other.spec").write_text("x", encoding="utf-8")
    assert keep.check(topdir, spec.name, tree, force=False) == []
    (topdir / "SPECS" / "twisted-echo.spec").write_text("edited", encoding="utf-8")
    with pytest.raises(BuildError, match=r"edited by hand \(SPECS/twisted-echo.spec\)"):
        keep.check(topdir, spec.name, tree, force=False)
    edited = keep.check(topdir, spec.name, tree, force=True)
    new2 = tmp_path / "new2"
    tree2 = render_tree(make_spec(maintainer=MAINTAINER, version="2.0"))
    tree2.write(new2, with_manifest=False)
    backup = keep.publish(new2, topdir, spec.name, tree2, keep=edited)
    assert backup is not None
    assert (backup / "SPECS" / "twisted-echo.spec").read_text(encoding="utf-8") == "edited"
    # The old version's tarball went with it; the new one is in place.
    assert sorted(p.name for p in (topdir / "SOURCES").iterdir()) == ["twisted-echo-2.0.tar.gz"]
    assert (topdir / "SPECS" / "other.spec").exists()


def test_spec_from_a_file_not_written_by_tap2rpm_is_kept(tmp_path: Path) -> None:
    spec = make_spec()
    topdir = tmp_path / "rpmbuild"
    (topdir / "SPECS").mkdir(parents=True)
    (topdir / "SPECS" / "twisted-echo.spec").write_text("mine", encoding="utf-8")
    with pytest.raises(BuildError, match="--force"):
        keep.check(topdir, spec.name, render_tree(spec), force=False)


def test_shutdown_file_only_for_plain_application_names() -> None:
    spec = make_spec()
    odd = AppInfo(AppKind.PYTHON, "echo.tac", b"", app_name="../x y")
    assert shutdown_file(spec) == "echo-shutdown.tap"
    assert shutdown_file(make_spec("echosource.tas")) == "echo-source-shutdown.tas"
    assert shutdown_file(replace(spec, app=odd)) is None


@pytest.mark.parametrize("good", ["MIT", "GPL-2.0-or-later", "GPLv2+", "LicenseRef-Mine",
                                  "(MIT OR Apache-2.0) AND BSD-3-Clause",
                                  "GPL-2.0-only WITH Classpath-exception-2.0",
                                  "DocumentRef-x:LicenseRef-y", "mit or apache-2.0"])
def test_spdx_expressions(good: str) -> None:
    assert preamble.spdx_expression(good) == good


@pytest.mark.parametrize("bad", ["ASL 2.0", "MIT OR", "(MIT", "MIT)", "AND", "MIT WITH",
                                 "MIT/BSD", "100%", "GPL-2.0 WITH (MIT)"])
def test_bad_spdx_expressions(bad: str) -> None:
    with pytest.raises(UsageError, match=r"--license: .* is not an SPDX license expression"):
        preamble.spdx_expression(bad)


def test_license_is_written_or_asked_for() -> None:
    assert "\nLicense:        MIT OR Apache-2.0\n" in render_spec(
        make_spec(license="MIT OR Apache-2.0"))
    text = render_spec(make_spec())
    assert "\n# No --license was given: replace this with the application's SPDX license " \
        "expression.\nLicense:        LicenseRef-Unspecified\n" in text


def test_maintainer_ending_in_a_backslash_is_refused() -> None:
    with pytest.raises(UsageError, match="--maintainer: must not end with a backslash"):
        render_spec(make_spec(maintainer="Ann\\"))
