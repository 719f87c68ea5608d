"""Vectorised cleaning of raw text columns, as DuckDB macros.

Exports decorate values to stop Excel from mangling them (``="3012…"``, ``'186…``),
append units (``12.50元``) and mix date styles (``2016/5/23 22:02``). Each column is
undecorated (``sc_undecorate``: strip, then unwrap) in one query layer over the raw
column: a macro repeats its argument at every reference, so nesting macros over an
expression multiplies the work, while references to a column are free. Only a value
that starts or ends with a space-like character pays for ``trim`` (the test is a few
prefix/suffix compares: a regular expression per value cost twice as much). Typed values
are computed from that text with cheap fast paths first, regular expressions only where
needed.
Only identifiers chosen by the code are put into SQL text; values are column data.
"""

from __future__ import annotations

import duckdb

from shopcrm.ingest.fields import Kind

NAIVE_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y%m%d",
]
OFFSET_FORMATS = [
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y/%m/%d %H:%M:%S %z",
]


_SPACE = r"[ \t\n\r\x{3000}\x{FEFF}]"
"""The characters ``sc_strip`` removes, as an RE2 class: ``trim`` with a character list
costs ~3× a plain copy per value, so it runs only on values that start or end with one."""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def install_macros(con: duckdb.DuckDBPyConnection, timezone: str) -> None:
    """Define the ``sc_*`` cleaning macros on a connection (shop time zone baked in)."""
    tz = timezone.replace("'", "")
    con.execute(
        rf"""
        CREATE OR REPLACE MACRO sc_strip(x) AS CASE
            WHEN regexp_matches(x, '^{_SPACE}|{_SPACE}$')
            THEN trim(x, ' ' || chr(9) || chr(10) || chr(13) || chr(12288) || chr(65279))
            ELSE x END;
        CREATE OR REPLACE MACRO sc_unwrap(s) AS CASE
            WHEN s = '' THEN NULL
            WHEN starts_with(s, '="') AND ends_with(s, '"') AND strlen(s) >= 3
                THEN nullif(sc_strip(substr(s, 3, length(s) - 3)), '')
            WHEN starts_with(s, '''') OR starts_with(s, '`')
                THEN nullif(sc_strip(ltrim(s, '''`')), '')
            ELSE s END;
        CREATE OR REPLACE MACRO sc_ws_ends(x) AS x < '!' OR starts_with(x, chr(12288))
            OR starts_with(x, chr(65279)) OR ends_with(x, ' ') OR ends_with(x, chr(9))
            OR ends_with(x, chr(10)) OR ends_with(x, chr(13)) OR ends_with(x, chr(12288))
            OR ends_with(x, chr(65279));
        CREATE OR REPLACE MACRO sc_undecorate(x) AS CASE
            WHEN sc_ws_ends(x)
            THEN sc_unwrap(trim(x, ' ' || chr(9) || chr(10) || chr(13) || chr(12288) || chr(65279)))
            ELSE sc_unwrap(x) END;
        CREATE OR REPLACE MACRO sc_text(u) AS CASE
            WHEN strpos(u, '  ') > 0 OR strpos(u, chr(9)) > 0 OR strpos(u, chr(10)) > 0
                OR strpos(u, chr(13)) > 0
            THEN nullif(trim(regexp_replace(u, '\s+', ' ', 'g')), '')
            ELSE u END;
        CREATE OR REPLACE MACRO sc_id(u) AS CASE
            WHEN ends_with(u, '.0') AND regexp_full_match(u, '\d+\.0') THEN left(u, -2)
            ELSE u END;
        CREATE OR REPLACE MACRO sc_money(u) AS coalesce(
            TRY_CAST(u AS DECIMAL(18,2)),
            TRY_CAST(nullif(regexp_replace(u, '(元|¥|￥|,|，|\s|CNY|RMB|USD|\$)', '', 'g'), '')
                AS DECIMAL(18,2)));
        CREATE OR REPLACE MACRO sc_int(u) AS coalesce(
            TRY_CAST(u AS BIGINT),
            TRY_CAST(regexp_replace(regexp_replace(u, '(件|个|,|，|\s)', '', 'g'), '\.0+$', '')
                AS BIGINT));
        CREATE OR REPLACE MACRO sc_bool(u) AS CASE
            WHEN lower(u) IN ('yes','y','true','t','1','是','on','subscribed') THEN true
            WHEN lower(u) IN ('no','n','false','f','0','否','off','not_subscribed',
                'unsubscribed') THEN false
            ELSE NULL END;
        CREATE OR REPLACE MACRO sc_offset_text(u) AS regexp_replace(
            regexp_replace(u, 'Z$', '+0000'), '([+-]\d\d):(\d\d)$', '\1\2');
        CREATE OR REPLACE MACRO sc_ts(u) AS coalesce(
            timezone('{tz}', try_strptime(u, {_sql_list(NAIVE_FORMATS)})),
            try_strptime(sc_offset_text(u), {_sql_list(OFFSET_FORMATS)}));
        CREATE OR REPLACE MACRO sc_date(u) AS CAST(timezone('{tz}', sc_ts(u)) AS DATE);
        CREATE OR REPLACE MACRO sc_local_day(ts) AS CAST(timezone('{tz}', ts) AS DATE);
        """
    )


def typed_expression(kind: Kind, u: str) -> str:
    """SQL turning undecorated text ``u`` into the field's value (NULL when unusable)."""
    return {
        Kind.TEXT: f"sc_text({u})",
        Kind.ID: f"sc_id({u})",
        Kind.STATUS: f"sc_text({u})",
        Kind.MONEY: f"sc_money({u})",
        Kind.INT: f"sc_int({u})",
        Kind.DATETIME: f"sc_ts({u})",
        Kind.DATE: f"sc_date({u})",
        Kind.BOOL: f"sc_bool({u})",
    }[kind]


def problem_expression(kind: Kind, field: str, u: str, value: str) -> str | None:
    """SQL yielding a reason string when text ``u`` is present but ``value`` unusable."""
    label = field.replace("'", "")
    shown = f"left({u}, 40)"
    if kind is Kind.MONEY:
        return (
            f"CASE WHEN {u} IS NOT NULL AND {value} IS NULL "
            f"THEN '{label}: not an amount: \"' || {shown} || '\"' "
            f"WHEN {value} < 0 THEN '{label}: negative amount ' || {shown} "
            f"WHEN {value} >= 1e12 THEN '{label}: implausibly large amount' END"
        )
    if kind is Kind.INT:
        return (
            f"CASE WHEN {u} IS NOT NULL AND {value} IS NULL "
            f"THEN '{label}: not a whole number: \"' || {shown} || '\"' "
            f"WHEN {value} < 0 THEN '{label}: negative number ' || {shown} "
            f"WHEN {value} > 1000000 THEN '{label}: implausibly large number' END"
        )
    if kind in (Kind.DATETIME, Kind.DATE):
        return (
            f"CASE WHEN {u} IS NOT NULL AND {value} IS NULL "
            f"THEN '{label}: not a date/time: \"' || {shown} || '\"' "
            f"WHEN year({value}) NOT BETWEEN 1990 AND 2100 "
            f"THEN '{label}: implausible date ' || {shown} END"
        )
    if kind is Kind.BOOL:
        return (
            f"CASE WHEN {u} IS NOT NULL AND {value} IS NULL "
            f"THEN '{label}: not yes/no: \"' || {shown} || '\"' END"
        )
    return (
        f"CASE WHEN strpos({u}, chr(65533)) > 0 "
        f"THEN '{label}: contains characters that are not valid in the file''s encoding' "
        f"WHEN length({u}) > 2000 THEN '{label}: value longer than 2000 characters' END"
    )
