"""Jinja rendering of single string values, in a sandbox, with undefined names as errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Jinja (and its bounds) load only when a value holds a template
    import jinja2

SECRET_ENV = "JOGG_API_KEY"
# Names that look like credentials never reach a template, even when a manifest declares them.
CREDENTIAL = re.compile(r"TOKEN|SECRET|PASSW|PASSPHRASE|KEY|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE"
                        r"|SIGNATURE|CERT|DSN|DATABASE_URL|CONNECTION_STRING"
                        r"|^(AWS_|GITHUB_|ACTIONS_|RUNNER_|AZURE_|GOOGLE_|GCP_|NPM_|PYPI_|TWINE_|"
                        r"DOCKER_|JOGG_API)", re.IGNORECASE)
_SHARED = {"vars", "env"}
_EXPR = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class TemplateError(Exception):
    """A template that does not render; the message is user-facing."""


class EnvView(dict[str, str]):
    """`env` as templates see it: only the variables the manifest declares under `env:`."""

    def __init__(self, environ: Mapping[str, str], declared: tuple[str, ...]) -> None:
        super().__init__((k, environ[k]) for k in declared if k in environ)
        self.declared = declared

    def missing(self, name: str) -> str:
        """Why `env.NAME` is undefined, naming the declared variables."""
        if name == SECRET_ENV:
            return f"env.{SECRET_ENV} is not available to templates; the key stays out of manifests"
        if name in self.declared:
            return f"env.{name} is declared but not set in the environment"
        return f"env.{name} is not declared in env: ({', '.join(self.declared) or 'none declared'})"


class ExplainedMapping(dict[str, Any]):
    """A mapping whose missing names explain themselves (a feed row names its columns)."""

    methods = False  # whether `.items()` and the like reach dict's methods (a row's never do)

    def missing(self, name: str) -> str:
        """Why `NAME` is undefined."""
        return f"'{name}' is undefined"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' (did you mean 'brand'?)', or '' when nothing known is close."""
    import difflib  # only for a mistake's message

    known = [k for k in known if isinstance(k, str)]
    close = [k for k in known if k.lower() == name.lower()] or \
        difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Named(ExplainedMapping):
    """`vars`, `product`, `variant` (and mappings inside vars) as templates see them: a missing
    name is said in the manifest's words, "no variable 'brnad' in vars (did you mean 'brand'?)",
    not Jinja's "'dict object' has no attribute 'brnad'"."""

    methods = True  # `vars.colors.items()` works as on any mapping

    def __init__(self, where: str, values: Mapping[str, Any], noun: str = "key") -> None:
        super().__init__({k: named(f"{where}.{k}", v) for k, v in values.items()})
        self.where, self.noun = where, noun

    def missing(self, name: str) -> str:
        """'no variable 'brnad' in vars (did you mean 'brand'?)'."""
        hint = did_you_mean(name, self)
        if not hint:
            keys = [str(k) for k in self]
            hint = f" ({self.where} holds {', '.join(keys[:12])}{', …' if len(keys) > 12 else ''})" \
                if keys else f" ({self.where} is empty)"
        return f"no {self.noun} '{name}' in {self.where}{hint}"


def named(where: str, value: Any) -> Any:
    """`value`, with its mappings (at any depth) explaining their missing keys."""
    if isinstance(value, dict) and not isinstance(value, ExplainedMapping):
        return Named(where, value)
    return value


@cache
def _env_class() -> Any:
    from .jinja_limits import BoundedSandbox

    class _Env(BoundedSandbox):
        # Bounded by what templates build (jinja_limits); `env` lookups explain what is missing.

        def getattr(self, obj: Any, attribute: str) -> Any:
            if isinstance(obj, ExplainedMapping) and attribute in obj:
                return obj[attribute]  # a feed column named 'items' or 'values' is the column
            if isinstance(obj, ExplainedMapping) and obj.methods and hasattr(dict, attribute):
                return super().getattr(obj, attribute)
            if isinstance(obj, EnvView | ExplainedMapping) and attribute not in obj:
                return self.undefined(hint=obj.missing(attribute), obj=obj, name=attribute)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            explains = isinstance(obj, EnvView | ExplainedMapping)
            if explains and isinstance(argument, str) and argument not in obj:
                return self.undefined(hint=obj.missing(argument), obj=obj, name=argument)
            return super().getitem(obj, argument)

    return _Env


def is_template(value: str) -> bool:
    """Whether a string holds Jinja markup and so needs rendering."""
    return "{{" in value or "{%" in value or "{#" in value


class Templater:
    """Renders strings against `vars`, `env` and the current product or variant.

    Templates that name nothing but `vars` and `env` give the same result for every
    product, so their output is cached: a shared default renders once, not once per video.
    """

    def __init__(self, environ: Mapping[str, str], declared: tuple[str, ...] = ()) -> None:
        self._env: Any = None
        self.environ = environ
        self.base: dict[str, Any] = {"env": EnvView(environ, allowed(declared)),
                                     "vars": Named("vars", {}, "variable")}
        self._compiled: dict[str, tuple[jinja2.Template, bool]] = {}
        self._exprs: dict[str, tuple[Any, bool]] = {}
        # Plain lookups (and string filters on them), read without Jinja.
        self._paths: dict[str, tuple[tuple[str, ...], tuple[str, ...]] | None] = {}
        self._max_chars = 0  # jinja_limits.MAX_CHARS once Jinja is loaded
        self._constant: dict[str, str] = {}

    @property
    def env(self) -> Any:
        """The bounded Jinja sandbox, made on the first template (Jinja costs 50-90 ms to import)."""
        if self._env is None:
            import jinja2

            from .jinja_limits import MAX_CHARS

            self._max_chars = MAX_CHARS

            self._env = _env_class()(undefined=jinja2.StrictUndefined, autoescape=False,
                                     keep_trailing_newline=True)
        return self._env

    def render(self, source: str, context: Mapping[str, Any] | None = None) -> str:
        """Render one string; raise TemplateError with a one-line reason."""
        # A string naming nothing per product (a shared default, merged into every video)
        # renders once: later calls cost a lookup, not a context and a pass through Jinja.
        done = self._constant.get("\1" + source)
        if done is not None:
            return done
        import jinja2
        from jinja2.exceptions import SecurityError

        ctx = {**self.base, **(context or {})}
        self.env.budget.reset()
        try:
            out, per_product = self._render(source, ctx)
        except SecurityError as err:
            raise TemplateError(f"template refused by the sandbox: {err}") from None
        except jinja2.TemplateSyntaxError as err:
            raise TemplateError(f"template syntax: {self._unknown(err.message or '')}") from None
        except jinja2.UndefinedError as err:
            raise TemplateError(f"template: {_undefined(err.message or '', ctx)}") from None
        except MemoryError:  # a last line: the bounds should refuse it sooner
            raise TemplateError("template: out of memory") from None
        except Exception as err:  # noqa: BLE001 - a filter's assert, a TypeError: the template's fault
            raise TemplateError(f"template: {err or type(err).__name__}") from None
        if not per_product:
            self._constant["\1" + source] = out
        return out

    def _unknown(self, message: str) -> str:
        """Jinja's "No filter named 'uper'." with the filter (or test) meant."""
        found = re.fullmatch(r"No (filter|test) named '([^']*)'\.?(.*)", message, re.DOTALL)
        if not found:
            return message
        kind, name, rest = found.groups()
        known = self.env.filters if kind == "filter" else self.env.tests
        return f"no {kind} named '{name}'{did_you_mean(name, known)}{rest}"

    def _render(self, source: str, ctx: dict[str, Any]) -> tuple[str, bool]:
        """The output, and whether it depends on the product or variant."""
        import jinja2

        parts = _split(source)
        if parts is not None:
            try:
                out = "".join(p if i % 2 == 0 else self._expression(p, ctx) for i, p in enumerate(parts))
                return out, any(self._exprs[p][1] for p in parts[1::2])
            except jinja2.TemplateSyntaxError:
                pass  # the quick split was wrong (e.g. '}}' inside a string): parse it whole
        out = self._template(source, ctx)
        return out, self._compiled[source][1]

    def _expression(self, expr: str, ctx: dict[str, Any]) -> str:
        # Manifests repeat the same few expressions ({{ vars.brand }}, {{ product.key }})
        # inside thousands of distinct strings; compiling each expression once, instead of
        # each string, is what keeps 10,000 products well under a second.
        hit = self._exprs.get(expr)
        if hit is None:
            from jinja2 import meta

            names = meta.find_undeclared_variables(self.env.parse(f"{{{{ {expr} }}}}"))
            hit = (self.env.compile_expression(expr, undefined_to_none=False), bool(names - _SHARED))
            self._exprs[expr] = hit
        fn, per_product = hit
        if not per_product and expr in self._constant:
            return self._constant[expr]
        plain = self._paths.get(expr, _UNSEEN)
        if plain is _UNSEEN:
            plain = self._paths[expr] = _lookup_path(expr)
        value = _MISSING if plain is None else _look_up(plain[0], ctx)
        if type(value) is str:
            for name in plain[1]:  # Jinja's own string filters, as Python's str methods
                value = _STR_FILTERS[name](value)
            if len(value) <= self._max_chars:
                return value  # a plain lookup of a short text: cheaper than any cache
            value = _MISSING  # too long: Jinja refuses it with its own words
        elif plain is not None and plain[1]:
            value = _MISSING  # a filter on a number or a list: Jinja applies it
        if value is _MISSING:  # not a plain lookup, or one Jinja must explain: Jinja itself
            value = fn(**ctx)
        from .jinja_limits import MAX_CHARS, refuse, size

        if size(value) > MAX_CHARS:
            raise refuse("the output")
        out = str(value)
        if not per_product:
            self._constant[expr] = out
        return out

    def _template(self, source: str, ctx: dict[str, Any]) -> str:
        hit = self._compiled.get(source)
        if hit is None:
            from jinja2 import meta

            names = meta.find_undeclared_variables(self.env.parse(source))
            hit = (self.env.from_string(source), bool(names - _SHARED))
            self._compiled[source] = hit
        template, per_product = hit
        key = "\0" + source
        if not per_product and key in self._constant:
            return self._constant[key]
        out = _bounded_render(template, ctx)
        if not per_product:
            self._constant[key] = out
        return out

    def is_constant(self, source: str) -> bool:
        """Whether `source` rendered already to one result for every product and variant."""
        return "\1" + source in self._constant

    def declare(self, names: tuple[str, ...]) -> None:
        """Let templates see these environment variables (credential-like names stay hidden)."""
        self.base["env"] = EnvView(self.environ, allowed(names))
        self._constant.clear()

    def set_var(self, name: str, value: Any) -> None:
        """Make `vars.NAME` available to every later template; constant caches reset."""
        self.base["vars"][name] = named(f"vars.{name}", value)
        self._constant.clear()


def _bounded_render(template: jinja2.Template, ctx: dict[str, Any]) -> str:
    """Render chunk by chunk, stopping as soon as the output passes the cap."""
    from .jinja_limits import MAX_CHARS, refuse

    chunks, total = [], 0
    for chunk in template.generate(ctx):
        total += len(chunk)
        if total > MAX_CHARS:
            raise refuse("the output")
        chunks.append(chunk)
    return "".join(chunks)


def _undefined(message: str, ctx: Mapping[str, Any]) -> str:
    """Jinja's "'varz' is undefined" for a name of the context, with the names it has."""
    found = re.fullmatch(r"'([^']*)' is undefined", message)
    if not found or found.group(1) in ctx:
        return message
    name = found.group(1)
    known = [k for k in ctx if not k.startswith("_")]
    return f"no name '{name}' in templates{did_you_mean(name, known)}; they see {', '.join(known)}"


def allowed(names: tuple[str, ...]) -> tuple[str, ...]:
    """The declared names a template may read: never the key nor anything credential-like."""
    return tuple(n for n in names if n != SECRET_ENV and not CREDENTIAL.search(n))


_UNSEEN: Any = object()
# Jinja's filters that are a str method on a str (jinja2.filters: do_upper is
# soft_str(s).upper(), do_trim with no chars is .strip()); with any argument Jinja applies them.
_STR_FILTERS: dict[str, Callable[[str], str]] = {
    "upper": str.upper, "lower": str.lower, "capitalize": str.capitalize, "trim": str.strip}
_MISSING: Any = object()
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = re.compile(rf"\s*({_NAME})((?:\s*\.\s*{_NAME}|\s*\[\s*'[^'\\]*'\s*\]|\s*\[\s*\"[^\"\\]*\"\s*\])*)\s*")
_STEP = re.compile(rf"\.\s*({_NAME})|\[\s*'([^'\\]*)'\s*\]|\[\s*\"([^\"\\]*)\"\s*\]")


def _lookup_path(expr: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """`row.title`, `vars.brand`, `row['Product Name']` as the names to look up, and the
    string filters after them (`product.key | upper`), or None for anything else (another
    filter, a call, arithmetic: Jinja renders those)."""
    head, *filters = expr.split("|")
    names = tuple(f.strip() for f in filters)
    match = _PATH.fullmatch(head)
    if match is None or not all(n in _STR_FILTERS for n in names):
        return None
    path = (match.group(1), *(next(g for g in step.groups() if g is not None)
                              for step in _STEP.finditer(match.group(2))))
    return path, names


def _look_up(path: tuple[str, ...], ctx: Mapping[str, Any]) -> Any:
    """A plain lookup resolved as the sandbox would resolve it, for data it holds: a name of
    the context, then keys of plain mappings and feed rows. Anything Jinja would resolve
    otherwise (an attribute or method of the object, a missing name that must be explained,
    `env`) is _MISSING, and Jinja does it, so the output is always Jinja's."""
    obj = ctx.get(path[0], _MISSING)
    for name in path[1:]:
        if isinstance(obj, ExplainedMapping):
            if name not in obj:
                return _MISSING
            obj = obj[name]
        elif type(obj) is dict and name in obj and not hasattr(dict, name):
            obj = obj[name]
        else:
            return _MISSING
    if obj is _MISSING or isinstance(obj, EnvView) or not isinstance(obj, str | int | float | list | dict):
        return _MISSING
    return obj


def _split(source: str) -> list[str] | None:
    """Literal text and {{ expressions }}, alternating; None when only Jinja can tell."""
    if "{%" in source or "{#" in source or "\r" in source:
        return None
    parts = _EXPR.split(source)
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if "{{" in part:
                return None
        else:
            part = part.strip()
            if not part or part[0] in "-+" or part[-1] in "-+":
                return None
            parts[i] = part
    return parts


class _ProductBeforeUrl(dict[str, Any]):
    """`product` as its own `url` sees it: its key and tags; its url is what is being made."""

    def __missing__(self, name: str) -> Any:
        if name == "url":
            raise _NotInUrl("product.url cannot be used in url itself (it is the value being "
                            "made); product.key and product.tags can")
        raise _NotInUrl(f"product has no '{name}' in url (product.key and product.tags can be used)")


class _VariantNotInUrl:
    """`variant` in a url: a product's url is one for all its variants (they share the product)."""

    def __getattr__(self, name: str) -> Any:
        raise _NotInUrl(f"variant.{name} cannot be used in url: {_SHARED_URL}")

    def __str__(self) -> str:
        raise _NotInUrl(f"variant cannot be used in url: {_SHARED_URL}")


_SHARED_URL = ("url belongs to the product, and its variants share it (one product, one crawl); "
               "use variant.* in details or render")


class _NotInUrl(Exception):
    """A name `url` cannot see, and why (said as the template's error)."""


def url_context(key: Any, tags: Any) -> dict[str, Any]:
    """What a product's `url` template sees besides vars, env (and a feed's row)."""
    return {"product": _ProductBeforeUrl(key=key, tags=tags), "variant": _VariantNotInUrl()}
