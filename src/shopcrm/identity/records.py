"""The comparable form of a source identity, as the probabilistic matcher sees it.

Derived columns make different exports comparable: the visible pattern of a phone
(``138****1234`` for a full number too, so a masked Taobao phone meets the full JD
one), the surname and whether a name is only a title (``王女士``), and an address
key without spaces and without a leading district the export repeated.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

RECORD_COLUMNS = ("id", "source", "kind", "name", "phone", "phone_masked", "email", "city",
                  "district", "address_detail")

_PREPARE = r"""
SELECT
    id AS unique_id,
    source,
    nullif(name, '') AS name,
    CASE WHEN regexp_matches(name, '^[\x{4e00}-\x{9fff}]') THEN left(name, 1)
         ELSE lower(split_part(name, ' ', -1)) END AS name_surname,
    coalesce(regexp_matches(name, '^[\x{4e00}-\x{9fff}]{1,2}(女士|先生|小姐)$'), false)
        AS name_title,
    phone,
    CASE
        WHEN phone LIKE '+86%' AND length(phone) = 14
            THEN substr(phone, 4, 3) || '****' || right(phone, 4)
        WHEN phone IS NOT NULL THEN left(phone, 6) || '****' || right(phone, 4)
        WHEN regexp_matches(phone_masked, '^1[0-9]{2}\*+[0-9]{4}$')
            THEN left(phone_masked, 3) || '****' || right(phone_masked, 4)
    END AS phone_pattern,
    nullif(lower(email), '') AS email,
    nullif(city, '') AS city,
    nullif(district, '') AS district,
    nullif(
        CASE WHEN district IS NOT NULL AND starts_with(a, district)
                 THEN substr(a, length(district) + 1)
             WHEN regexp_matches(a, '^[\x{4e00}-\x{9fff}]{1,4}(区|县)')
                 AND NOT regexp_matches(a, '^[\x{4e00}-\x{9fff}]{0,3}(小区|社区|园区)')
                 THEN regexp_replace(a, '^[\x{4e00}-\x{9fff}]{1,4}?(区|县)', '')
             ELSE a END, '') AS address_key
FROM (SELECT *, regexp_replace(coalesce(address_detail, ''), '\s+', '', 'g') AS a
      FROM identities)
"""

_STREET = r"""
SELECT *, nullif(regexp_extract(address_key, '^(.*?[0-9]+号)', 1), '') AS address_street
FROM prepared
"""


def prepare(identities: pa.Table) -> pa.Table:
    """Comparable records (``unique_id`` = identity ID) from identity rows."""
    con = duckdb.connect()
    try:
        con.register("identities", identities)
        con.execute(f"CREATE TABLE prepared AS {_PREPARE}")
        table: pa.Table = con.sql(_STREET).to_arrow_table()
        return table
    finally:
        con.close()


FORM_SQL = _PREPARE + _STREET
"""The definition of the comparable form (a cache of it is valid only for this text)."""
