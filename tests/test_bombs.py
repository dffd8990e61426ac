"""Template and YAML bombs are refused with FILE:LINE and exit 3, in bounded memory and time.

Every case runs through the real CLI in a fresh process limited to 1 GiB of address space:
an unbounded template would end in MemoryError (a traceback, exit 1) or run until the
subprocess timeout, which is only a guard against a hang, not a timing assertion.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

LIMIT = 1 << 30  # bytes of address space for each child

TEMPLATE_BOMBS = {
    "ljust": "{{ 'x'.ljust(300000000) }}",
    "center-method": "{{ 'x'.center(300000000) }}",
    "center-filter": "{{ 'x' | center(300000000) }}",
    "zfill": "{{ '1'.zfill(300000000) }}",
    "percent-width": "{{ '%300000000s' % 'x' }}",
    "percent-star": "{{ '%*s' % (300000000, 'x') }}",
    "percent-many": "{{ ('%s' * 30000) % (('x' * 60000,) * 30000) }}",
    "format-width": "{{ '{:>300000000}'.format('x') }}",
    "format-nested": "{{ '{:{}}'.format('x', '300000000') }}",
    "percent-precision": "{{ '%.300000000f' % 1.0 }}",
    "format-filter": "{{ '%300000000s' | format('x') }}",
    "indent": "{{ 'x' | indent(300000000, true) }}",
    "indent-lines": "{{ ('x\\n' * 30000) | indent(60000) }}",
    "wordwrap": "{{ ('x' * 60000) | wordwrap(1, true, 'y' * 60000) }}",
    "replace-filter": "{{ ('x' * 60000) | replace('x', 'y' * 60000) }}",
    "replace-method": "{{ ('x' * 60000).replace('x', 'y' * 60000) }}",
    "join-filter": "{{ (['x' * 60000] * 60000) | join }}",
    "join-method": "{{ ('x' * 60000).join(['a'] * 60000) }}",
    "expandtabs": "{{ ('\\t' * 60000).expandtabs(60000) }}",
    "translate": "{{ ('x' * 60000).translate({120: 'y' * 60000}) }}",
    "repeat": "{{ 'x' * 300000000 }}",
    "double-concat": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "double-plus": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                   "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "double-list": "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}"
                   "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
    "nested-loops-silent": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested-loops-output": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "power-tower": "{{ 9**100**100**100**100 }}",
    "power": "{{ 9**100**100 }}",
    "square-in-loop": "{% set ns = namespace(n=3) %}{% for i in range(100) %}"
                      "{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
    "sum-of-lists": "{{ ([range(100000) | list] * 100000) | sum(start=[]) | length }}",
    "map-sum": "{{ ([range(100000) | list] * 100000) | map('sum') | sum }}",
    "print-shared-lists": "{{ [range(100000) | list] * 100000 }}",
    "string-of-shared-lists": "{{ ([range(100000) | list] * 100000) | string | length }}",
    "batch": "{{ [1] | batch(300000000, 'x') | list }}",
    "slice": "{{ [1] | slice(300000000) | list }}",
    "lipsum": "{{ lipsum(100000) }}",
    "to-bytes": "{{ (1).to_bytes(300000000, 'big') }}",
    "macro-recursion": "{% macro m(n) %}{% if n %}{{ m(n-1) }}{{ m(n-1) }}{% endif %}{% endmacro %}"
                       "{{ m(40) }}",
    "macro-output": "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 60000 ~ i }}{% endfor %}"
                    "{% endmacro %}{{ m() | length }}",
    "set-block": "{% set x %}{% for i in range(100000) %}{{ 'x' * 60000 ~ i }}{% endfor %}{% endset %}"
                 "{{ x | length }}",
    "filter-block": "{% filter upper %}{% for i in range(100000) %}{{ 'x' * 60000 }}{% endfor %}"
                    "{% endfilter %}",
    "macro-literal": "{% macro m() %}{% for i in range(100000) %}" + "y" * 1000 + "{% endfor %}"
                     "{% endmacro %}{{ m() | length }}",
    "map-center-list": "{{ range(100000) | map('string') | map('center', 60000) | list | length }}",
    "list-of-distinct": "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
                        "{% set ns.l = ns.l + ['x' * 60000 ~ i] %}{% endfor %}{{ ns.l | length }}",
    "macro-calls-kept": "{% macro m(i) %}" + "z" * 1000 + "{{ i }}{% endmacro %}{% set ns = namespace(l=[]) %}"
                        "{% for i in range(100000) %}{% set ns.l = ns.l + [m(i)] %}{% endfor %}{{ ns.l | length }}",
    "bytes-repeat": "{{ 'x'.encode() * 300000000 }}",
    "bytes-replace": "{{ ('x' * 60000).encode().replace('x'.encode(), ('y' * 60000).encode()) }}",
    "bytes-percent": "{{ '%300000000s'.encode() % 'x'.encode() }}",
    "bytes-join": "{{ ('x' * 60000).encode().join(['a'.encode()] * 60000) }}",
    "tojson-indent": "{{ {'a': 'x' * 60000} | tojson(300000000) }}",
}


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jogg_flow", *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limit,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _manifest(tmp_path, template: str) -> str:
    path = tmp_path / "bomb.yaml"
    path.write_text("version: 1\nproducts:\n  - key: a\n    url: https://x.example/a\n"
                    f"    details:\n      title: {json.dumps(template)}\n")
    return str(path)


@pytest.mark.parametrize("name", sorted(TEMPLATE_BOMBS))
def test_template_bomb_is_refused_at_its_line(name, tmp_path):
    path = _manifest(tmp_path, TEMPLATE_BOMBS[name])
    result = _run("validate", path)
    assert result.returncode == 3, result.stderr[-2000:]
    assert result.stderr.startswith(f"{path}:6:14: template"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout


def test_a_bomb_stops_plan_and_apply_too(tmp_path):
    path = _manifest(tmp_path, TEMPLATE_BOMBS["ljust"])
    for command in ("plan", "apply"):
        result = _run(command, path, "--sandbox")
        assert result.returncode == 3 and "Traceback" not in result.stderr
        assert f"{path}:6:14:" in result.stderr


def test_yaml_alias_byte_bomb_is_refused_at_the_anchor(tmp_path):
    # The shape from the issue: long scalars repeated through aliases, under 0.5 MB of file.
    path = tmp_path / "aliases.yaml"
    path.write_text(f'version: 1\nvars:\n  a: &a "{"x" * 400000}"\n'
                    "  b: &b [" + ", ".join(["*a"] * 1000) + "]\n"
                    "  c: [" + ", ".join(["*b"] * 1000) + "]\n"
                    "products:\n  - key: a\n    url: https://x.example/a\n")
    result = _run("validate", str(path))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert f"{path}:4:6: aliases of &b expand this document" in result.stderr or \
        f"{path}:3:6: aliases of &a expand this document" in result.stderr


# -- property: any mix of the dangerous operations renders small or is refused ---------------

PROPERTY = textwrap.dedent('''
    import resource, sys
    from hypothesis import HealthCheck, given, settings, strategies as st
    from jogg_flow.manifest.jinja_limits import MAX_CHARS
    from jogg_flow.manifest.templating import TemplateError, Templater

    OPS = [
        "({a}).ljust({n})", "({a}) | center({n})", "({a}) * {n}", "'%{n}s' % ({a})",
        "'{{:>{n}}}'.format({a})", "({a}) | indent({n})", "({a}) | wordwrap({n} % 100 + 1)",
        "({a}) | replace('x', 'x' * ({n} % 70000))", "({a}) ~ ({a})", "({a}) + ({a})",
        "{n} ** ({n} % 300)", "({a}) | truncate({n})", "([{a}] * ({n} % 200000)) | join",
        "({a}).zfill({n})", "({a}).expandtabs({n} % 70000)", "({a}) | batch({n}) | list",
        "({a}) | string", "({a}) | list", "({a}).encode() * {n}",
        "(({a}) | string).encode().replace('x'.encode(), ('y' * ({n} % 70000)).encode())", "({a}) | reverse", "(({a}) | string).replace('', '{a}')",
        "[{a}] * ({n} % 200000)", "({a}) | format({a})", "'{{0}}{{0}}{{0}}'.format({a})",
    ]
    ATOMS = ["'x'", "'ab\\\\n'", "'\\\\t'", "'%s'", "'{{}}'", "range(10) | list", "[1, 2]", "9", "'x' * 60000"]
    SIZES = st.one_of(st.integers(0, 100), st.integers(0, 10**9),
                      st.sampled_from([65535, 65536, 65537, 100000, 300000000]))

    def expression(depth):
        if depth == 0:
            return st.sampled_from(ATOMS)
        return st.one_of(st.sampled_from(ATOMS), st.builds(
            lambda op, a, n: op.format(a=a, n=n), st.sampled_from(OPS), expression(depth - 1), SIZES))

    @st.composite
    def template(draw):
        expr = draw(expression(3))
        shape = draw(st.sampled_from(["expression", "loop", "macro"]))
        if shape == "expression":
            return "{{ " + expr + " }}"
        if shape == "macro":
            return ("{% macro m() %}{% for i in range(" + str(draw(st.integers(1, 100000))) + ") %}"
                    "{{ " + expr + " }}{% endfor %}{% endmacro %}{{ m() | length }}")
        op = draw(st.sampled_from(OPS)).format(a="ns.v", n=draw(SIZES))
        loops = draw(st.integers(1, 100000))
        return ("{% set ns = namespace(v=" + expr + ") %}{% for i in range(" + str(loops) + ") %}"
                "{% set ns.v = " + op + " %}{% endfor %}{{ ns.v }}")

    @settings(max_examples=int(sys.argv[1]), deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(template())
    def check(source):
        try:
            out = Templater({}).render(source)
        except TemplateError:
            return
        assert len(out) <= MAX_CHARS, (source, len(out))

    check()
    print("ok")
''')


def _property(examples: int, timeout: float) -> None:
    result = subprocess.run([sys.executable, "-c", PROPERTY, str(examples)], capture_output=True,
                            text=True, timeout=timeout, preexec_fn=_limit, cwd=str(ROOT),
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_template_expressions_render_small_or_are_refused():
    _property(60, timeout=300)


@pytest.mark.slow
def test_template_expressions_render_small_or_are_refused_many():
    _property(1500, timeout=3000)
