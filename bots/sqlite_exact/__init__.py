"""The embedded default's SQLite backend, with money stored and computed exactly.

SQLite has no decimal type: a ``decimal`` column has NUMERIC affinity, which keeps 15
significant digits (12345678.123456789012 reads back as 12345678.1234568), and its
arithmetic and ``SUM`` run in binary floats. This backend (``ENGINE = "bots.sqlite_exact"``)
makes :class:`bots.moneyfield.MoneyField` columns exact:

* they are ``TEXT`` (the decimal's own digits) with the ``bf_decimal`` collation, so
  comparisons (``quantity__gt=0``, CHECK constraints, ``ORDER BY``, ``MIN``/``MAX``,
  indexes) compare numbers, not strings;
* decimal arithmetic (``F("cash") + x``) and ``SUM`` compile to registered functions that
  compute with :class:`decimal.Decimal` (:mod:`bots.sqlite_exact.compiler`) instead of
  ``CAST(... AS NUMERIC)``;
* values read back as :class:`~decimal.Decimal` from their digits.

Opening the file with another SQLite client works, but comparisons on money columns
there need the collation (``no such collation sequence: bf_decimal``).
"""
