"""A Jinja sandbox bounded by what templates build, not by what they look like.

Jinja's sandbox stops attribute escapes but lets a one-line template allocate gigabytes
(`'x'.ljust(300000000)`, `'x' | center(...)`, `'%300000000s' % 'x'`, a string doubled in
a loop) or spin for hours (`9**100**100**100`, loops of loops). Here every operation that
can grow a value checks the size of its result before building it, and every loop
iteration, call and filter spends from a per-render budget of steps and seconds.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import string
import time
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum

MAX_CHARS = 64 * 1024  # a rendered value, and any string built on the way (API fields are short)
MAX_ITEMS = 100_000  # a list or tuple built by + or * (as Jinja's own range cap)
MAX_BITS = 12_000  # an integer (about 3,600 digits: still printable)
MAX_STEPS = 1_000_000  # loop iterations, calls and filter items per render
MAX_SECONDS = 2.0  # per render
MAX_TOTAL_SECONDS = 60.0  # all renders of one environment (one manifest): 10,000 slow ones add up
MAX_OUTPUT = 4 * MAX_CHARS  # all {{ }} output of a render, captured (macros, set blocks) or not
# Characters (and list slots) all operations of one render may build, kept or not: each one is
# capped, but a loop could keep many (a list grown by +, `map('center', 60000) | list`).
MAX_BUILT = 16 * 1024 * 1024

# Filters whose result is not text: they are bounded by their input, not checked for size.
_COLLECTION_FILTERS = frozenset({
    "abs", "attr", "batch", "bool", "count", "d", "default", "dictsort", "first", "float",
    "groupby", "int", "items", "last", "length", "list", "map", "max", "min", "random",
    "reject", "rejectattr", "reverse", "round", "select", "selectattr", "slice", "sort", "sum",
    "unique"})
# str methods that cannot grow a string by more than a small factor.
_SAFE_STR_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
    "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
    "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines",
    "startswith", "strip", "swapcase", "title", "upper", "encode"})
# A %-conversion's width and precision (the literal text around it may hold any number).
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def refuse(what: str) -> SecurityError:
    """The one error for an over-large template result."""
    return SecurityError(f"{what} would exceed {MAX_CHARS} characters")


def size(value: Any, limit: int = MAX_CHARS) -> int:
    """About len(str(value)), walking no further than needed to pass `limit`."""
    if type(value) is str:  # the common case, on every rendered value
        return len(value)
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, (bytes, bytearray)):
            total += 4 * len(v) + 3
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 2
        elif isinstance(v, Mapping):
            total += 2 + 4 * len(v)
            stack.extend(x for pair in v.items() for x in pair)
        elif isinstance(v, Namespace):
            stack.append(v._Namespace__attrs)  # its repr shows them
        elif isinstance(v, (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)):
            total += 2 + 2 * len(v)
            stack.extend(v)
        else:
            total += 32  # floats, ranges, macros, cyclers: a short repr
    return total


class Budget:
    """Steps and seconds one render may spend (and all renders of one manifest together)."""

    def __init__(self, total_seconds: float = MAX_TOTAL_SECONDS) -> None:
        self.total_seconds = total_seconds
        self.last_call = time.monotonic() + total_seconds
        self.reset()

    def reset(self) -> None:
        """A fresh allowance, at the start of each render."""
        self.steps = 0
        self.output = 0
        self.built = 0
        self.deadline = min(time.monotonic() + MAX_SECONDS, self.last_call)

    def built_value(self, value: Any) -> Any:
        """Count what an operation built; refuse past the render's allowance."""
        if isinstance(value, (str, bytes, list, tuple)):
            self.built += len(value)
            if self.built > MAX_BUILT:
                raise SecurityError(f"the template builds too much (over {MAX_BUILT} characters)")
        return value

    def emit(self, value: Any) -> Any:
        """Every {{ }} output passes here, also into a macro's or a {% set %} block's buffer."""
        n = size(value)
        self.output += n
        if n > MAX_CHARS or self.output > MAX_OUTPUT:
            raise refuse("the output")
        self.spend()
        return value

    def spend(self, n: int = 1) -> None:
        """Count `n` steps; refuse the template past the step or time budget."""
        before = self.steps
        self.steps += n
        if self.steps > MAX_STEPS:
            raise SecurityError(f"the template does too much work (over {MAX_STEPS} steps)")
        if (before >> 6) != (self.steps >> 6) and time.monotonic() > self.deadline:
            if self.deadline == self.last_call:
                raise SecurityError(f"this manifest's templates take too long (over "
                                    f"{self.total_seconds:g} s in all)")
            raise SecurityError(f"the template takes too long (over {MAX_SECONDS:g} s)")

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """What a `{% for %}` loops over, one step per iteration."""
        for item in iterable:
            self.spend()
            yield item


class _Generator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # `a ~ b` sizes its parts before joining them (a string doubled in a loop).
        self.write("environment.jf_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with size, step and time bounds on everything a template does."""

    code_generator_class = _Generator
    intercepted_binops = frozenset(["+", "*", "**", "%"])

    def __init__(self, total_seconds: float = MAX_TOTAL_SECONDS, **options: Any) -> None:
        budget = Budget(total_seconds)
        super().__init__(finalize=budget.emit, **options)
        self.budget = budget
        # Joins macro and block output (the generated code reads environment.concat).
        self.concat = lambda parts: str(budget.built_value(_bounded_concat(parts)))  # type: ignore[method-assign]
        self.filters = {name: _bounded_filter(self, name, fn) for name, fn in self.filters.items()}
        self.globals["lipsum"] = _lipsum

    def jf_steps(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Loops go through here (see _parse)."""
        return self.budget.iterate(iterable)

    def jf_concat(self, parts: tuple[Any, ...]) -> str:
        """`~`, bounded."""
        if sum(size(p) for p in parts) > MAX_CHARS:
            raise refuse("a joined string (~)")
        return str(self.budget.built_value(str_join(parts)))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Every {% for %} iterates through the budget; an environment attribute cannot be
        # shadowed by a template's own {% set %}.
        for loop in list(tree.find_all(nodes.For)):
            loop.iter = nodes.Call(nodes.EnvironmentAttribute("jf_steps"), [loop.iter], [], None, None,
                                   lineno=loop.lineno)
        return tree

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        self.budget.spend()
        if operator_ == "**":
            return _power(left, right)
        if operator_ == "%":
            if isinstance(left, (str, bytes)):
                _check_percent(left if isinstance(left, str) else left.decode("latin-1"), right)
            return self.budget.built_value(operator.mod(left, right))
        _check_grow(left, right, add=operator_ == "+")
        return self.budget.built_value((operator.add if operator_ == "+" else operator.mul)(left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        __self.budget.spend()
        method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner = getattr(method, "__self__", None)
        if isinstance(owner, (str, bytes)):
            _check_str_method(owner, getattr(method, "__name__", ""), args, kwargs)
        elif owner is not None and type(owner) in (int, float, list, tuple, dict, range):
            _check_counts(args, kwargs)
        out = super().call(__context, __obj, *args, **kwargs)
        if isinstance(out, (str, bytes)) and len(out) > MAX_CHARS:
            raise refuse("a method's result")
        return __self.budget.built_value(out)


def _bounded_concat(parts: Iterable[str]) -> str:
    chunks, total = [], 0
    for part in parts:
        total += len(part)
        if total > MAX_CHARS:
            raise refuse("a macro's or block's output")
        chunks.append(part)
    return "".join(chunks)


def _power(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        # 9**100**100: the exponent alone says little; the result's size is what matters.
        if right * math.log2(abs(left)) > MAX_BITS:
            raise SecurityError(f"a power would exceed {MAX_BITS} bits")
    return operator.pow(left, right)


def _check_grow(left: Any, right: Any, add: bool) -> None:
    for a, b in ((left, right), (right, left)):
        if isinstance(a, int) and isinstance(b, int) and not add:
            if a.bit_length() + b.bit_length() > MAX_BITS:
                raise SecurityError(f"a product would exceed {MAX_BITS} bits")
            return
        if not isinstance(a, (str, bytes, list, tuple)):
            continue
        cap = MAX_CHARS if isinstance(a, (str, bytes)) else MAX_ITEMS
        if add and isinstance(b, (str, bytes, list, tuple)):
            n = len(a) + len(b)
        elif not add and isinstance(b, int):
            n = len(a) * b
        else:
            continue
        if n > cap:
            raise SecurityError(f"a repetition or concatenation would exceed {cap} "
                                f"{'characters' if cap == MAX_CHARS else 'items'}")


def _check_counts(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CHARS:
            raise refuse(f"a call with {value}")


def _check_percent(template: str, args: Any) -> None:
    values = args if isinstance(args, tuple) else (args,)
    widths = [int(w) for m in _PERCENT.finditer(template) for w in m.groups() if w and w != "*"] or [0]
    if max(widths) > MAX_CHARS:
        raise refuse("a %-format width")
    if "*" in template:
        _check_counts(values, {})
    fields = template.count("%")
    if len(template) + fields * (max(widths) + size(args)) > MAX_CHARS:
        raise refuse("a %-formatted string")


def _check_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    try:
        specs = [spec for _, field, spec, _ in string.Formatter().parse(template) if field is not None]
    except ValueError:
        return  # str.format refuses it too
    widths = [int(w) for spec in specs for w in _DIGITS.findall(spec or "")] or [0]
    if any("{" in (spec or "") for spec in specs):  # '{:{}}': a width may come from an argument
        widths += [int(w) for v in (*args, *kwargs.values()) if isinstance(v, str)
                   for w in _DIGITS.findall(v[:100])]
    _check_counts(args, kwargs)
    biggest = max([size(v) for v in (*args, *kwargs.values())] or [0])
    if max(widths) > MAX_CHARS or len(template) + template.count("{") * (biggest + max(widths)) > MAX_CHARS:
        raise refuse("a formatted string")


def _replace_size(s: str | bytes, old: Any, new: Any, count: Any = -1) -> int:
    if not isinstance(old, type(s)) or not isinstance(new, type(s)):
        return len(s)
    text: Any = s  # str or bytes, with `old` of the same type (checked above)
    hits = text.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def _join_size(separator: str | bytes, items: Iterable[Any]) -> int:
    total = 0
    for n, item in enumerate(items):
        total += size(item) + (len(separator) if n else 0)
        if total > MAX_CHARS:
            break
    return total


def _check_str_method(s: str | bytes, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """str and bytes methods: refuse one whose result would pass the cap, before it runs."""
    if name in _SAFE_STR_METHODS:
        return
    if name in ("ljust", "rjust", "center", "zfill"):
        _check_counts(args, kwargs)
    elif name == "expandtabs":
        tab = (args or (kwargs.get("tabsize", 8),))[0]
        tabs = s.count("\t") if isinstance(s, str) else s.count(b"\t")
        if isinstance(tab, int) and len(s) + tabs * tab > MAX_CHARS:
            raise refuse("expandtabs()")
    elif name == "replace":
        if _replace_size(s, *args, **kwargs) > MAX_CHARS:
            raise refuse("replace()")
    elif name == "join":
        if args and _join_size(s, list(args[0]) if not isinstance(args[0], str) else args[0]) > MAX_CHARS:
            raise refuse("join()")
    elif name in ("format", "format_map") and isinstance(s, str):
        mapping = args[0] if name == "format_map" and args and isinstance(args[0], Mapping) else {}
        _check_format(s, args if name == "format" else (), {**kwargs, **mapping})
    elif name == "translate":
        table = args[0] if args else {}
        longest = max([size(v) for v in table.values()] or [1]) if isinstance(table, Mapping) else 1
        if len(s) * longest > MAX_CHARS:
            raise refuse("translate()")
    else:
        _check_counts(args, kwargs)


def _filter_check(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a filter call whose result would be too large, before it is built."""
    if name not in _COLLECTION_FILTERS and size(value) > MAX_CHARS:
        raise refuse(f"the input of '{name}'")
    if name in ("center", "batch", "slice", "truncate", "wordwrap", "filesizeformat", "round"):
        _check_counts(args, kwargs)
    text = value if isinstance(value, str) else ""
    if name == "indent":
        width = (args or (kwargs.get("width", 4),))[0]
        pad = width if isinstance(width, int) else size(width)
        if pad > MAX_CHARS or len(text) + (text.count("\n") + 1) * pad > MAX_CHARS:
            raise refuse("indent")
    elif name == "wordwrap":
        wrap = (args[2:3] or (kwargs.get("wrapstring") or "\n",))[0]
        if size(wrap) > 64:
            raise refuse("wordwrap's wrapstring")
    elif name == "replace" and _replace_size(text, *args[:3]) > MAX_CHARS:
        raise refuse("replace")
    elif name == "join" and _join_size(str(args[0]) if args else "", value) > MAX_CHARS:
        raise refuse("join")
    elif name == "format":
        _check_percent(text, args or tuple(kwargs.values()))
    elif name == "sum" and _items_in(value) > MAX_ITEMS:
        raise SecurityError(f"a sum would exceed {MAX_ITEMS} items")
    elif name == "tojson" and (args or (kwargs.get("indent"),))[0] not in (None, *range(65)):
        raise refuse("tojson's indent")


def _items_in(value: Any) -> int:
    total = 0
    for item in value if isinstance(value, (list, tuple)) else ():
        total += len(item) if isinstance(item, (str, list, tuple)) else 0
        if total > MAX_ITEMS:
            break
    return total


def _bounded_filter(env: BoundedSandbox, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    passes = getattr(fn, "jinja_pass_arg", None) is not None

    @functools.wraps(fn)  # keeps jinja_pass_arg, so Jinja still passes context or environment
    def bounded(*args: Any, **kwargs: Any) -> Any:
        rest = args[1:] if passes else args
        value = rest[0] if rest else None
        env.budget.spend(len(value) if isinstance(value, (str, list, tuple, dict, range)) else 1)
        if isinstance(value, Iterator):
            value = list(value)  # a generator from map/select: look at it once, pass it on
            rest = (value, *rest[1:])
            args = (*args[:1], *rest) if passes else rest
            env.budget.spend(len(value))
        _filter_check(name, value, rest[1:], kwargs)
        out = fn(*args, **kwargs)
        if isinstance(out, str) and len(out) > MAX_CHARS:
            raise refuse(f"'{name}'")
        return env.budget.built_value(out)

    return bounded


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    if n > 20 or max > 200 or min > 200:
        raise refuse("lipsum")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))
