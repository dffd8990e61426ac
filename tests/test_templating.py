"""Templating: the quick path for plain {{ expressions }} agrees with Jinja itself."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from jogg_flow.manifest.jinja_limits import BoundedSandbox
from jogg_flow.manifest.templating import TemplateError, Templater

CTX = {"product": {"key": "lamp", "url": "https://x.example/lamp", "tags": ["a", "b"]}}


@pytest.mark.parametrize("source", [
    "{{ vars.brand }} {{ product.key | upper }}",
    "{{ product.tags | join(', ') }}!",
    "{{ vars.n * 3 }} and {{ 'x' ~ vars.brand }}",
    "{{ none }}|{{ vars.brand | default('z') }}",
    "text with } and { and }} alone",
    "{{ vars.brand }}\n{{ product.url }}\n",
    "{{ product['key'] }}{{- ' trimmed' }}",
    "{% for t in product.tags %}[{{ t }}]{% endfor %}",
])
def test_quick_path_matches_jinja(source):
    templater = Templater({"HOME": "/h"})
    templater.set_var("brand", "Acme")
    templater.set_var("n", 2)
    expected = templater.env.from_string(source).render({**templater.base, **CTX})
    assert templater.render(source, CTX) == expected


@pytest.mark.parametrize("value", ["stra\u00dfe \u01c6emal", "\u3000 lamp\u00a0\n", "\u0130stanbul", 7, ["a"]])
@pytest.mark.parametrize("source", [
    "{{ vars.v | upper }}", "x{{ vars.v|lower }}y", "{{ vars.v | capitalize | trim }}", "{{ vars['v']|trim }}",
    "{{ product.key | upper }} {{ vars.v | title }}",
])
def test_string_filters_on_a_plain_lookup_match_jinja(source, value):
    templater = Templater({})
    templater.set_var("v", value)
    expected = templater.env.from_string(source).render({**templater.base, **CTX})
    assert templater.render(source, CTX) == expected


def test_string_filters_on_a_plain_lookup_are_read_without_jinja():
    # The lookups a generated title is made of: read as data, like a plain {{ row.X }}.
    templater = Templater({})
    assert templater.render("{{ product.key | upper }}-{{ product.key|lower|trim }}", CTX) == "LAMP-lamp"
    assert templater._paths["product.key | upper"] == (("product", "key"), ("upper",))
    assert templater._paths["product.key|lower|trim"] == (("product", "key"), ("lower", "trim"))
    templater.render("{{ product.key | title }}{{ product.key | trim('l') }}", CTX)
    assert templater._paths["product.key | title"] is None  # not a str method: Jinja does it
    assert templater._paths["product.key | trim('l')"] is None


def test_a_filtered_lookup_past_the_size_bound_is_refused_as_jinja_refuses_it():
    from jogg_flow.manifest.jinja_limits import MAX_CHARS

    templater = Templater({})
    templater.set_var("v", "\u00df" * (MAX_CHARS // 2 + 1))  # upper doubles it: SS
    assert templater.render("{{ vars.v }}", {}) == "\u00df" * (MAX_CHARS // 2 + 1)
    with pytest.raises(TemplateError, match="refus|too long|limit"):
        templater.render("{{ vars.v | upper }}", {})


def test_env_holds_only_the_declared_variables_never_the_key():
    environ = {"REGION": "eu", "HOME": "/root", "JOGG_API_KEY": "secret-value-123", "MY_TOKEN": "t0k"}
    templater = Templater(environ, ("REGION", "JOGG_API_KEY", "MY_TOKEN", "UNSET"))
    assert templater.render("{{ env.REGION }}") == "eu"
    assert templater.render("{{ env }}") == "{'REGION': 'eu'}"
    with pytest.raises(TemplateError, match="not available to templates"):
        templater.render("{{ env.JOGG_API_KEY }}")
    with pytest.raises(TemplateError, match=r"env.HOME is not declared in env: \(REGION, UNSET\)"):
        templater.render("{{ env['HOME'] }}")
    with pytest.raises(TemplateError, match="env.UNSET is declared but not set"):
        templater.render("{{ env.UNSET }}")
    assert templater.render("{{ env.HOME | default('x') }}") == "x"


@pytest.mark.parametrize("source, reason", [
    ("{{ ''.__class__ }}", "sandbox"),
    ("{{ 2 ** 100000 }}", "a power would exceed"),
    ("{{ [1] * 10**7 }}", "would exceed 100000 items"),
    ("{{ nope }}", "no name 'nope' in templates; they see env, vars"),
    ("{{ 1 / 0 }}", "division by zero"),
    ("{% if %}", "template syntax"),
])
def test_refusals_are_one_line_errors(source, reason):
    with pytest.raises(TemplateError, match=reason) as err:
        Templater({}).render(source)
    assert "\n" not in str(err.value)


def test_shared_results_are_cached_but_per_product_ones_are_not():
    templater = Templater({})
    templater.set_var("brand", "Acme")
    assert templater.render("{{ vars.brand }}") == "Acme"
    assert templater.render("{{ product.key }}", {"product": {"key": "a"}}) == "a"
    assert templater.render("{{ product.key }}", {"product": {"key": "b"}}) == "b"
    templater.set_var("brand", "Other")  # a later var invalidates what earlier ones rendered
    assert templater.render("{{ vars.brand }}") == "Other"


@pytest.mark.parametrize("source, expected", [
    ("{{ 'Item 1000000 %s' % 'x' }}", "Item 1000000 x"),
    ("{{ 'Year 2026000 {}'.format('x') }}", "Year 2026000 x"),
    ("{{ '%5.2f' % 3.14159 }}", " 3.14"),
    ("{{ '{:>6}'.format('ab') }}", "    ab"),
    ("{{ ('x' * 100) | length }}", "100"),
    ("{{ range(1000) | join(',') | length }}", "3889"),
    ("{% for i in range(300) %}{% for j in range(300) %}{% endfor %}{% endfor %}ok", "ok"),
    ("{{ 2 ** 64 }}", "18446744073709551616"),
    ("{{ 'a b' | center(9) }}", "   a b   "),
    ("{{ 'x' | indent(4, true) }}", "    x"),
    ("{{ ['a', 'b'] | join('-') }}", "a-b"),
    ("{{ 'abc'.replace('b', 'BB') }}", "aBBc"),
])
def test_ordinary_templates_are_within_the_bounds(source, expected):
    assert Templater({}).render(source) == expected


@pytest.mark.parametrize("source", [
    "{{ 'x' * 70000 }}", "{{ 'x'.ljust(70000) }}", "{{ 'x' | center(70000) }}", "{{ '%70000s' % 'x' }}",
    "{% for i in range(70000) %}x{% endfor %}", "{{ 9 ** 5000 }}",
])
def test_just_past_a_bound_is_refused(source):
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        Templater({}).render(source)


def test_slow_templates_add_up_to_a_limit_per_manifest():
    env = BoundedSandbox(total_seconds=0.3)
    slow = env.from_string("{% for i in range(100000) %}{% for j in range(9) %}{% endfor %}{% endfor %}")
    messages = []
    for _ in range(4):
        env.budget.reset()
        try:
            slow.render()
        except SecurityError as err:
            messages.append(str(err))
    assert messages[-1] == "this manifest's templates take too long (over 0.3 s in all)"
