"""Field validation and control-file folding."""

from __future__ import annotations

import pytest

from tap2pkg import validate
from tap2pkg.backends.debian.control import extended_description
from tap2pkg.errors import UsageError


@pytest.mark.parametrize("name", ["twisted-echo", "a0", "foo.bar+baz"])
def test_good_debian_names(name: str) -> None:
    assert validate.deb_name(name) == name


@pytest.mark.parametrize("name", ["Twisted", "a", "-x", "x_y", "x y", "", "x\n"])
def test_bad_debian_names(name: str) -> None:
    with pytest.raises(UsageError, match="--debfile"):
        validate.deb_name(name)


@pytest.mark.parametrize("version", ["1.0", "2:1.0~rc1", "1.0+git20240101"])
def test_good_native_versions(version: str) -> None:
    assert validate.deb_version(version) == version


@pytest.mark.parametrize("version", ["1.0-1", "v1", "", "1.0 ", "1;x"])
def test_bad_native_versions(version: str) -> None:
    with pytest.raises(UsageError):
        validate.deb_version(version)


@pytest.mark.parametrize(
    "value", ["nobody", "Me <me>", "Me <a@b.c>\nDepends: evil", "<a@b.c>", "A, B <a@b.c>"]
)
def test_bad_maintainers(value: str) -> None:
    with pytest.raises(UsageError, match="--maintainer"):
        validate.maintainer(value)


def test_maintainer_with_non_ascii_name() -> None:
    assert validate.maintainer("Jürgen Müller <jm@example.org>") == "Jürgen Müller <jm@example.org>"


@pytest.mark.parametrize("value", ["x\nDepends: evil", "tab\there", "a" * 81])
def test_summary_is_one_short_line(value: str) -> None:
    with pytest.raises(UsageError, match="--description"):
        validate.summary(value)


def test_dependencies() -> None:
    assert validate.deb_dependency("foo (>= 1.2)") == "foo (>= 1.2)"
    assert validate.deb_dependency("aa|bb") == "aa | bb"
    for bad in ("foo;rm -rf /", "foo (>= $(id))", "Foo", "foo\nbar"):
        with pytest.raises(UsageError):
            validate.deb_dependency(bad)


def test_init_systems() -> None:
    allowed = ("systemd", "sysv")
    assert validate.init_systems("sysv,systemd", allowed) == ("systemd", "sysv")
    with pytest.raises(UsageError, match="--init"):
        validate.init_systems("", allowed)


def test_extended_description_folding() -> None:
    text = "First paragraph.\n\n  verbatim  line\n" + "word " * 30
    folded = extended_description(text.strip())
    lines = folded.splitlines()
    assert lines[0] == " First paragraph."
    assert lines[1] == " ."
    assert lines[2] == "   verbatim  line"
    assert all(len(line) <= 80 for line in lines)
    assert all(line.startswith(" ") for line in lines)


def test_urls() -> None:
    assert validate.url("https://example.org/a%20b?x=1") == "https://example.org/a%20b?x=1"
    for bad in ("example.org", "https://a b", "javascript:alert(1)", "https://x\n", "", "'x'"):
        with pytest.raises(UsageError, match="--url"):
            validate.url(bad)


def test_every_line_breaker_is_refused() -> None:
    """Every character Python (or an editor) takes as a line end, all 1.1 million
    code points checked: a one-line field is one line for every reader."""
    breakers = [chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) != 1]
    assert len(breakers) == 10  # \n \v \f \r \x1c \x1d \x1e \x85 U+2028 U+2029
    for char in breakers:
        for check in (validate.one_line, validate.summary, validate.maintainer):
            with pytest.raises(UsageError, match="one line without control characters"):
                check(f"Jane{char}Doe <jane@example.org>", "--x")
        if char != "\n":  # a line break is what separates lines of the long description
            with pytest.raises(UsageError):
                validate.long_description(f"a{char}b")


def test_substitution_variables_are_refused() -> None:
    for value in ("${Newline}", "x ${misc:Depends}", "${}"):
        with pytest.raises(UsageError, match="dpkg-gencontrol would expand it"):
            validate.one_line(value, "--description")
    assert validate.one_line("costs $5 {or so}", "--description") == "costs $5 {or so}"
