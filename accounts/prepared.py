"""Querysets the ORM compiles once per shape, then runs again with new values.

A read endpoint such as ``GET bots`` spent more CPU building and compiling its
queryset (filters, annotations, ordering: about half of the request) than the
database spent answering it, and the result is the same SQL every time with
different values. ``PreparedQuery`` builds the queryset once per database and
*shape* (which of its optional parameters are given) from the very selector the
rest of the code uses, with stand-in values in place of the real ones; it keeps
the SQL, finds where each stand-in landed among the parameters, and from then on
only substitutes values, runs the SQL and builds model instances the way the
ORM's own iterator does (field converters included). So the filter logic is
written once, in the selector, and cannot drift.

Stand-ins must reach the SQL as bound parameters, unchanged: use it for equality
filters on ints, strings and dates (not ``__contains``-style lookups that rewrite
the value). A stand-in that does not come out as a parameter is an error at
compile time, not a silent wrong answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

_INT_BASE = -987_654_321
_DATE_BASE = date(1001, 1, 1)


def _standin(name: str, kind: type, index: int):
    if kind is int:
        return _INT_BASE - index
    if kind is str:
        return f"\x00standin:{name}"
    if kind is date:
        return _DATE_BASE + timedelta(days=index)
    raise ImproperlyConfigured(f"no stand-in for parameter type {kind!r}")


def _matches(param, standin) -> bool:
    if type(param) is bool:  # True == 1: never a stand-in
        return False
    if isinstance(standin, date):
        return param == standin or param == standin.isoformat()  # SQLite binds dates as text
    return param == standin


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple  # constants, with None where a value is substituted
    slots: tuple[tuple[int, str], ...]  # (param index, parameter name)
    attnames: tuple[str, ...]
    model_slice: slice
    annotations: tuple[tuple[str, int], ...]
    converters: tuple  # (column index, converter functions, expression)


class PreparedQuery:
    """``build(**values) -> QuerySet`` of ``model``, compiled once per database and shape.

    ``params`` names the parameters ``build`` takes and their types (``int``, ``str``,
    ``date``); a parameter passed as ``None`` is left out of the shape, and ``build``
    is called without it (it must treat a missing one as "no filter").
    """

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], **params: type):
        self.model = model
        self.build = build
        self.params = params
        self._compile = functools.cache(self._compile_uncached)

    def _compile_uncached(self, alias: str, shape: tuple[str, ...]) -> _Compiled:
        standins = {name: _standin(name, self.params[name], i) for i, name in enumerate(shape)}
        queryset = self.build(**standins).using(alias)
        if queryset.model is not self.model or queryset.query.is_sliced:
            raise ImproperlyConfigured("a prepared query builds an unsliced queryset of its model")
        if queryset._iterable_class is not ModelIterable or queryset.query.select_related:
            raise ImproperlyConfigured("a prepared query yields plain model instances")
        compiler = queryset.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        slots, constants = [], list(params)
        for position, param in enumerate(params):
            names = [name for name, value in standins.items() if _matches(param, value)]
            if names:
                slots.append((position, names[0]))
                constants[position] = None
        missing = set(shape) - {name for _, name in slots}
        if missing:
            raise ImproperlyConfigured(f"stand-ins did not reach the SQL as parameters: {sorted(missing)}")
        fields = compiler.klass_info["select_fields"]
        model_slice = slice(fields[0], fields[-1] + 1)
        select = compiler.select
        attnames = tuple(column.target.attname for column, _, _ in select[model_slice])
        columns = [expression for expression, _, _ in select]
        converters = tuple((i, tuple(c), e) for i, (c, e) in compiler.get_converters(columns).items())
        return _Compiled(
            sql=sql,
            params=tuple(constants),
            slots=tuple(slots),
            attnames=attnames,
            model_slice=model_slice,
            annotations=tuple(compiler.annotation_col_map.items()),
            converters=converters,
        )

    def statement(self, alias: str, **values) -> tuple[_Compiled, list]:
        """The compiled query for these values and its parameters, for callers that run it.

        ``fetch`` runs it through Django's cursor; authentication runs it as a reused
        server-side prepared statement (accounts/authentication.py).
        """
        unknown = set(values) - set(self.params)
        if unknown:
            raise TypeError(f"unknown parameters: {sorted(unknown)}")
        shape = tuple(name for name in self.params if values.get(name) is not None)
        compiled = self._compile(alias, shape)
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = values[name]
        return compiled, params

    def fetch(self, *, limit: int | None = None, offset: int = 0, **values) -> list[Model]:
        """The instances for these values, with annotations set; one query."""
        alias = router.db_for_read(self.model)
        compiled, params = self.statement(alias, **values)
        sql = compiled.sql
        if limit is not None:
            # Django writes LIMIT/OFFSET as literals; bound here so one SQL serves every page.
            sql = f"{sql} LIMIT %s OFFSET %s"
            params += [int(limit), int(offset)]
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [self.instance(alias, connection, compiled, row) for row in rows]

    def instance(self, alias: str, connection, compiled: _Compiled, row) -> Model:
        """A model instance from one result row of ``compiled``, as the ORM's iterator builds it."""
        if compiled.converters:
            row = list(row)
            for index, converters, expression in compiled.converters:
                value = row[index]
                for convert in converters:
                    value = convert(value, expression, connection)
                row[index] = value
        instance = self.model.from_db(alias, compiled.attnames, row[compiled.model_slice])
        for attr, index in compiled.annotations:
            setattr(instance, attr, row[index])
        return instance
