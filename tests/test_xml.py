"""XML application files (.tax): the marmalade reader, the AOT writer, and the loader.

None of this needs Twisted: real Twisted loading the converted files is in
test_xml_twisted.py.  Hostile files try to run ``touch <sentinel>`` or read
/etc/passwd; nothing may run, and every refusal is one line naming the file.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap2pkg.appfile import load
from tap2pkg.appfile.graph import Stub
from tap2pkg.appfile.marmalade import MAX_DEPTH, MAX_ELEMENTS, decode_string, decode_unicode
from tap2pkg.appfile.source import unjelly
from tap2pkg.appfile.xml import convert, converted_name, read_xml, write_converted
from tap2pkg.errors import AppFileError, BuildError
from tap2pkg.model import AppInfo, AppKind
from tests.conftest import FIXTURES

DECL = b'<?xml version="1.0"?>\n'
GENERATED = (
    "echoxml.tax",
    "daemonxml.tax",
    "xmlscalars.tax",
    "xmlcontainers.tax",
    "xmlreferences.tax",
    "xmlcallables.tax",
    "xmlcopyreg.tax",
)


def doc(body: str | bytes) -> bytes:
    return DECL + (body.encode() if isinstance(body, str) else body)


def value(body: str | bytes) -> object:
    """What the converted source's ``app`` reads back as (with tap2pkg's .tas reader)."""
    return unjelly("t.tas", convert("t.tax", doc(body)).encode("ascii"))


def refused(body: str | bytes, name: str = "t.tax") -> str:
    """The one-line error for a document (a str body gets the XML declaration)."""
    with pytest.raises(AppFileError) as info:
        convert(name, doc(body) if isinstance(body, str) else body)
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message
    return message


# ---- the fixtures ----


def test_echo_fixture_loads() -> None:
    path = FIXTURES / "echoxml.tax"
    info = load(path)
    assert info == AppInfo(
        kind=AppKind.XML,
        filename="echoxml.tas",
        content=info.content,
        app_name="echo-xml",
        endpoints=("tcp:8010:interface=127.0.0.1",),
        original=("echoxml.tax", path.read_bytes()),
    )
    assert info.twistd_option == "source"
    text = info.content.decode("ascii")
    assert text.startswith(
        "# AOT source (twistd --source) converted by tap2pkg from 'echoxml.tax',\n"
    )
    assert "\napp = Ref(" in text


def test_daemon_fixture_loads() -> None:
    info = load(FIXTURES / "daemonxml.tax")
    assert (info.app_name, info.uid, info.gid) == ("daemon-xml", 1000, 1000)
    assert info.endpoints == ("tcp:8011:interface=127.0.0.1", "tcp:8012:interface=127.0.0.1")
    assert info.warnings == ("the Application sets uid=1000 and gid=1000: ignored, the "
                             "service runs as the package's service user (--user, --group)",)
    # Twisted 8.x's TimerService had no clock; today's startService needs one.
    assert "clock=None," in info.content.decode()
    assert "# For current Twisted: clock=None added to" in info.content.decode()


def test_fixtures_are_what_the_generator_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("make_xml", FIXTURES / "make_xml_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_xml", module)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HERE", tmp_path)
    module.main()
    for name in GENERATED:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_xml2", FIXTURES / "make_xml_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_xml2"] = module
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_python2_hashes_and_dict_order() -> None:
    gen = _generator()
    # Values CPython 2.7 (64-bit) gives: the fixtures' element order depends on them.
    assert gen.py2_hash(b"a") == 12416037344
    assert gen.py2_hash(b"abc") == 1453079729188098211
    assert gen.py2_hash((1, 2)) == 3713081631934410656
    assert gen.py2_hash(-1) == -2
    d = gen.Py2Dict([(b"b", 1), (b"a", 2), (b"c", 3)])
    assert [k for k, _ in d.items()] == [b"a", b"c", b"b"]  # Python 2's {'a':..,'c':..,'b':..}


def test_fixtures_have_twisted_8_layout() -> None:
    """One line of declaration, one line of tree, lower-case names, <x></x> for empty."""
    for name in GENERATED:
        data = (FIXTURES / name).read_bytes()
        declaration, tree = data.split(b"\n")
        assert declaration == b'<?xml version="1.0"?>'
        assert b"/>" not in tree
        assert b"<None" not in tree


def test_forward_reference_fixture() -> None:
    """Hand-written: marmalade never refers forward, but the old reader resolved it."""
    info = load(FIXTURES / "xmlforward.tax")
    result = unjelly(info.filename, info.content)
    assert result == [["later"], ["later"]]
    assert isinstance(result, list)
    assert result[0] is result[1]


# ---- elements ----


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<none></none>", None),
        ("<None/>", None),  # microdom read names case-insensitively
        ("<NONE/>", None),
        ('<string value="plain"></string>', "plain"),
        (
            '<string value="it\\\'s \\&quot;q\\&quot; \\\\ \\n\\t\\r\\x00\\xff\\101\\q"/>',
            'it\'s "q" \\ \n\t\r\x00\xff' + "A\\q",
        ),
        (
            '<unicode value="caf\\u00e9 \\U0001f600\\n\\t\\\\u0041"/>',
            "caf\xe9 \U0001f600\n\t\\\\u0041",
        ),
        ('<int value="42"/>', 42),
        ('<int value=" -7 "/>', -7),
        ('<longint value="12345678901234567890"/>', 12345678901234567890),
        ('<longint value="5L"/>', 5),
        ('<float value="2.5"/>', 2.5),
        ('<float value="-1e+100"/>', -1e100),
        ('<float value="inf"/>', float("inf")),
        ('<float value="-inf"/>', float("-inf")),
        ('<bool value="1"/>', True),
        ('<bool value="0"/>', False),
        ('<bool value="True"/>', True),
        ("<tuple></tuple>", ()),
        ('<tuple><int value="1"/></tuple>', (1,)),
        ('<list><int value="1"/><list/></list>', [1, []]),
        (
            '<dictionary><int role="key" value="1"/><string value="a"/>'
            '<tuple role="key"><string value="b"/></tuple><none/></dictionary>',
            {1: "a", ("b",): None},
        ),
        (
            '<copyreg loadfunc="__builtin__.complex"><tuple><float value="1.5"/>'
            '<float value="-2.0"/></tuple></copyreg>',
            complex(1.5, -2),
        ),
        ('<copyreg loadfunc="builtins.complex"><tuple><int value="3"/></tuple></copyreg>', 3 + 0j),
    ],
)
def test_scalars_and_containers(body: str, expected: object) -> None:
    assert value(body) == expected


def test_string_values_are_latin1_text() -> None:
    # Python 2 str is bytes; like tap2pkg's pickle reader, bytes become latin-1 text.
    assert value('<string value="\\xe9t\\xe9"/>') == "\xe9t\xe9"
    # Twisted wrote U+0080..U+00FF in unicode values as raw bytes, under no encoding.
    assert value(b'<unicode value="caf\xe9"/>') == "caf\xe9"
    assert value(b'<string value="\xe9"/>') == "\xe9"
    # A declared encoding is followed.
    data = '<?xml version="1.0" encoding="utf-8"?>\n<unicode value="caf\xe9"/>'.encode()
    assert unjelly("t.tas", convert("t.tax", data).encode()) == "caf\xe9"


def test_instance_class_function_module_method() -> None:
    result = value(
        '<list><instance class="twisted.internet.protocol.Factory" reference="1"><dictionary>'
        '<string role="key" value="protocol"/><class name="twisted.protocols.wire.Echo"/>'
        "</dictionary></instance>"
        '<method name="doStart" class="twisted.internet.protocol.Factory"><reference key="1"/>'
        "</method>"
        '<method name="doStop" class="twisted.internet.protocol.Factory"><none/></method>'
        '<function name="twisted.python.reflect.qual"/><module name="twisted.protocols.wire"/>'
        "</list>"
    )
    assert isinstance(result, list)
    factory, bound, unbound, function, module = result
    assert isinstance(factory, Stub)
    assert factory.is_a("twisted.internet.protocol.Factory")
    protocol = factory.attributes()["protocol"]
    assert protocol.dotted() == "twisted.protocols.wire.Echo"
    assert (bound.name, bound.klass.dotted(), bound.instance) == (
        "doStart",
        "twisted.internet.protocol.Factory",
        factory,
    )
    assert unbound.instance is None
    assert function.dotted() == "twisted.python.reflect.qual"
    assert module.dotted() == "twisted.protocols.wire"


def test_instance_state_that_is_not_keywords() -> None:
    text = convert(
        "t.tax",
        doc(
            '<instance class="twisted.a.B"><dictionary>'
            '<string role="key" value="class"/><int value="1"/>'  # a keyword
            '<string role="key" value="className"/><int value="2"/>'  # Instance()'s own
            '<string role="key" value="a.b"/><int value="3"/>'
            "</dictionary></instance>"
        ),
    )
    assert "Instance('twisted.a.B', {" in text
    stub = unjelly("t.tas", text.encode())
    assert isinstance(stub, Stub)
    assert stub.state == {"class": 1, "className": 2, "a.b": 3}
    # A state that is not a dict at all (a class's own __getstate__).
    stub = value('<instance class="twisted.a.B"><tuple><int value="1"/></tuple></instance>')
    assert isinstance(stub, Stub)
    assert stub.state == (1,)


def test_references_shared_and_circular() -> None:
    result = value(
        '<list><list reference="1"><string value="s"/></list><reference key="1"/>'
        '<list reference="2"><reference key="2"/></list></list>'
    )
    assert isinstance(result, list)
    shared, again, cycle = result
    assert shared is again
    assert cycle[0] is cycle
    # An instance whose state refers back to it, as Persistent.original does.
    root = value(
        '<instance class="twisted.python.components.Componentized" reference="7"><dictionary>'
        '<string role="key" value="me"/><reference key="7"/></dictionary></instance>'
    )
    assert isinstance(root, Stub)
    assert root.attributes()["me"] is root


def test_ref_numbers_follow_document_order_and_unused_references_are_dropped() -> None:
    text = convert(
        "t.tax",
        doc(
            '<list><list reference="9"/><list reference="3"/><list reference="5"/>'
            '<reference key="5"/><reference key="9"/></list>'
        ),
    )
    assert "Ref(1, [])" in text  # key 9, first in the document
    assert "Ref(2, [])" in text  # key 5; key 3 is never referred to
    assert "Ref(3" not in text
    assert "Deref(2)" in text and "Deref(1)" in text


def test_output_is_ascii_and_literals_cannot_break_out() -> None:
    nasty = "')\nimport os\nos.system('touch x')\n#\u2028\u00e9"
    text = convert("t'\n.tax", doc(f'<unicode value="{_xml_attr(nasty)}"/>'))
    assert text.isascii()
    lines = text.splitlines()
    assert lines[0] == '# AOT source (twistd --source) converted by tap2pkg from "t\'\\n.tax",'
    assert unjelly("t.tas", text.encode()) == nasty


def _xml_attr(text: str) -> str:
    """Text as an XML attribute holding a <unicode> value: every character escaped,
    so any text survives (backslashes included, which marmalade itself lost)."""
    return "".join(f"\\U{ord(c):08x}" for c in text)


# ---- decoding, as Twisted 8.x encoded ----


def _py2_repr_value(data: bytes) -> str:
    """What marmalade put in a <string> value attribute (before XML escaping)."""
    r = repr(data)[1:]
    r = r.replace("'", "\\'") if r[0] == '"' else r.replace('"', '\\"')
    return r[1:-1]


@given(st.binary(max_size=64))
def test_string_round_trip(data: bytes) -> None:
    assert decode_string(_py2_repr_value(data)) == data.decode("latin-1")


@given(st.text(alphabet=st.characters(blacklist_characters="\\\r"), max_size=64))
def test_unicode_round_trip(text: str) -> None:
    # raw_unicode_escape leaves backslashes alone, so marmalade could not round-trip
    # them; \r in an attribute is normalised by every XML parser.
    written = text.encode("raw_unicode_escape").replace(b"\n", b"\\n").replace(b"\t", b"\\t")
    assert decode_unicode(written.decode("latin-1")) == text


@given(st.binary(max_size=32))
def test_any_string_survives_conversion(data: bytes) -> None:
    escaped = _py2_repr_value(data).replace("&", "&amp;").replace('"', "&quot;")
    escaped = escaped.replace("<", "&lt;")
    assert value(f'<list><string value="{escaped}"/></list>') == [data.decode("latin-1")]


@given(st.text(max_size=32))
def test_any_text_survives_conversion(text: str) -> None:
    assert value(f'<unicode value="{_xml_attr(text)}"/>') == text


# ---- hostile and broken files ----


@pytest.mark.parametrize(
    "body",
    [
        # Billion laughs.
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;">]><list><string value="&lol2;"/></list>',
        # External entities.
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><list><string value="&e;"/></list>',
        '<!DOCTYPE x SYSTEM "file:///etc/passwd"><list/>',
        '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://example.invalid/x.dtd"> %p;]><list/>',
    ],
)
def test_dtds_and_entities_are_refused(body: str) -> None:
    message = refused(body)
    assert message == "t.tax: line 2: a DOCTYPE: DTDs and entities are not allowed"


def test_undefined_entity() -> None:
    assert refused('<list><string value="&e;"/></list>') == (
        "t.tax: line 2: not well-formed XML: undefined entity"
    )


def test_hostile_sizes_fail_fast() -> None:
    cases = [
        b"<list>" * 2_000_000 + b"</list>" * 2_000_000,  # 26 MB, nested two million deep
        b"<list>" + b"<none/>" * 2_000_000 + b"</list>",  # 14 MB, two million elements
    ]
    messages = []
    for data in cases:
        start = time.monotonic()
        with pytest.raises(AppFileError) as info:
            convert("big.tax", data)
        assert time.monotonic() - start < 2
        messages.append(str(info.value))
    assert messages[0].endswith(f": nested more than {MAX_DEPTH} deep")
    assert "/list/list/list/list/.../list/list/list/list" in messages[0]
    assert messages[1] == f"big.tax: line 1: more than {MAX_ELEMENTS} elements: too large"


def deepest_document(klass: str = "twisted.a.B") -> str:
    """MAX_DEPTH elements deep, each level a referenced instance with a referenced dict
    state: the most AOT nesting an element can turn into."""
    levels = (MAX_DEPTH - 2) // 2  # inside a <list>, around a <none>
    body = "".join(
        f'<instance class="{klass}" reference="i{n}"><dictionary reference="d{n}">'
        '<string role="key" value="x"/>'
        for n in range(levels)
    )
    body += "<none/>" + "</dictionary></instance>" * levels
    refs = "".join(f'<reference key="i{n}"/><reference key="d{n}"/>' for n in range(levels))
    return f"<list>{body}{refs}</list>"


def test_deepest_allowed_nesting_converts() -> None:
    result = value(deepest_document())
    assert isinstance(result, list)
    assert len(result) == 1 + 2 * ((MAX_DEPTH - 2) // 2)
    too_deep = refused(f"<list>{deepest_document()}</list>")
    assert too_deep.endswith(f"nested more than {MAX_DEPTH} deep")


def test_eval_injection_in_string_values_is_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "sentinel"
    payload = f'h"+str(__import__("os").system("touch {sentinel}"))+"i'
    message = refused(f'<string value="{payload.replace(chr(34), "&quot;")}"/>')
    assert message == 't.tax: line 2: <string> at /: an unescaped " in a string value'
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            '<instance class="os.system"><none/></instance>',
            "<instance> at /: refused to load os.system",
        ),
        ('<class name="subprocess.Popen"/>', "refused to load subprocess.Popen"),
        ('<function name="os.system"/>', "refused to load os.system"),
        ('<module name="os"/>', "refused to load os"),
        ('<method name="system" class="os.X"><none/></method>', "refused to load os.X"),
        (
            '<copyreg loadfunc="__builtin__.eval"><tuple><string value="1"/></tuple></copyreg>',
            "refused to load __builtin__.eval",
        ),
        ("<class name=\"twisted.a');import os;('\"/>", "is not a dotted Python name"),
        ('<method name="a b" class="twisted.A"><none/></method>', "is not an identifier"),
        ('<method name="do\u00e9" class="twisted.A"><none/></method>', "is not an identifier"),
        ('<class name="twisted.\u00e9"/>', "is not a dotted Python name"),
    ],
)
def test_names_that_run_code_are_refused(body: str, needle: str) -> None:
    message = refused(body)
    assert needle in message
    if "refused" in needle:
        assert message.endswith("can run code when the file is loaded")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "<instance class='twisted.A'><dictionary><int role='key' value='1'/><foo/></dictionary>"
            "</instance>",
            "line 2: unknown element <foo> at /instance/dictionary",
        ),
        (
            "<list><int value='1' size='2'/></list>",
            "line 2: <int> at /list: unknown attribute 'size'",
        ),
        ("<list><int/></list>", "line 2: <int> at /list: the 'value' attribute is missing"),
        ("<int value='x'/>", "line 2: <int> at /: value 'x' is not an integer"),
        ("<int value='1_000'/>", "line 2: <int> at /: value '1_000' is not an integer"),
        ("<float value='nan'/>", "line 2: <float> at /: NaN cannot be written as AOT source"),
        ("<float value='1e'/>", "line 2: <float> at /: value '1e' is not a number"),
        (
            "<dictionary><int value='1'/><int value='2'/></dictionary>",
            'line 2: <int> at /dictionary: a dictionary key without role="key"',
        ),
        (
            "<dictionary><int role='key' value='1'/></dictionary>",
            "line 2: <dictionary> at /: a key without a value",
        ),
        (
            "<list role='key'/>",
            "line 2: <list> at /: role='key' on something that is not a dictionary key",
        ),
        (
            "<list>\n<reference key='4'/></list>",
            "line 3: <reference key='4'> at /list: no element has reference='4'",
        ),
        (
            "<list reference='1'>\n<list reference='1'/></list>",
            "line 3: <list> at /list: reference '1' is already defined on line 2",
        ),
        (
            "<instance class='twisted.A'/>",
            "line 2: <instance> at /: must contain exactly one element, not 0",
        ),
        ("<int value='1'><none/></int>", "line 2: <int> at /: cannot contain elements"),
        ("<list>text</list>", "line 2: unexpected text in <list> at /"),
        (
            "<string value='\\x4'/>",
            "line 2: <string> at /: an invalid \\x escape in a string value",
        ),
        (
            "<string value='a\\'/>",
            "line 2: <string> at /: a string value ends with a lone backslash",
        ),
        (
            "<unicode value='\\u12'/>",
            "line 2: <unicode> at /: a truncated \\uXXXX escape in a unicode value",
        ),
        (
            "<instance class='twisted.A' marmalade:version='1'><none/></instance>",
            "line 2: <instance> at /: written by a class's own jellyToDOM (marmalade:version): "
            "unsupported",
        ),
        (
            "<method name='f' class='twisted.A'><list/></method>",
            "line 2: <method> at /: a method must hold an <instance>, a <reference> or <none>",
        ),
        (
            "<copyreg loadfunc='__builtin__.complex'><list/></copyreg>",
            "line 2: <copyreg> at /: a complex number needs one or two numbers",
        ),
        ("<list/><list/>", "line 2: not well-formed XML: junk after document element"),
        ("<list>", "line 2: not well-formed XML: no element found"),
        ("<int value='1' VALUE='2'/>", "line 2: <int> at /: an attribute is repeated"),
    ],
)
def test_errors_name_file_line_and_path(body: str, message: str) -> None:
    assert refused(body) == f"t.tax: {message}"


def test_messages_stay_short() -> None:
    message = refused(f"<list><{'a' * 100_000}/></list>")
    assert len(message) < 320
    assert message.startswith("t.tax: line 2: unknown element <aaaa")


def test_empty_and_garbage_files() -> None:
    assert refused(b"", "e.tax") == "e.tax: line 1: not well-formed XML: no element found"
    assert refused(b"\x80\x04\x95 pickle", "p.tax").startswith("p.tax: line 1: not well-formed")


def test_tuple_cycles_are_refused_by_the_tas_reader() -> None:
    # AOT resolves them; tap2pkg's .tas reader does not, and says so.
    with pytest.raises(AppFileError, match=r"^c\.tax: cannot use the converted source: c\.tas:"):
        read_xml("c.tax", doc('<tuple reference="1"><reference key="1"/></tuple>'))


# ---- the loader ----


def test_type_xml_for_any_extension(tmp_path: Path) -> None:
    path = tmp_path / "server.conf"
    path.write_bytes((FIXTURES / "echoxml.tax").read_bytes())
    info = load(path, AppKind.XML)
    assert (info.filename, info.app_name) == ("server.tas", "echo-xml")
    assert info.original is not None
    assert info.original[0] == "server.conf"


def test_converted_name_never_clobbers_the_original() -> None:
    assert converted_name("app.tax") == "app.tas"
    assert converted_name("app") == "app.tas"
    assert converted_name("app.tas") == "app.tas.tas"


def test_not_an_application_warns(tmp_path: Path) -> None:
    info = load(FIXTURES / "xmlscalars.tax")
    assert info.app_name is None
    assert info.warnings == (
        "the file holds a list, not a twisted Application (service.Application): "
        "twistd may refuse it",
    )


def test_write_converted(tmp_path: Path) -> None:
    info = load(FIXTURES / "echoxml.tax")
    out = tmp_path / "echo.tas"
    write_converted(info, out)
    assert out.read_bytes() == info.content
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["echo.tas"]  # no temp file left
    with pytest.raises(BuildError, match=r"^cannot write .*/missing/x\.tas: "):
        write_converted(info, tmp_path / "missing" / "x.tas")


def test_nothing_is_imported_while_converting() -> None:
    before = set(sys.modules)
    for name in (*GENERATED, "xmlforward.tax"):
        load(FIXTURES / name)
    assert {m for m in set(sys.modules) - before if m.split(".")[0] == "twisted"} == set()
