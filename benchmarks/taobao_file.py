"""Write an N-row Taobao order export (UTF-8 with BOM, decorated values) with DuckDB.

Shaped like the real export: 30 columns, `="…"` order numbers, `'186…` phones on half
the rows, masked phones on a quarter, `元` on some amounts, two date styles, space
separated addresses with postcodes, ~N/3 distinct buyers.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

HEADER = (
    "订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,买家支付积分,总金额,返点积分,"
    "买家实际支付金额,买家实际支付积分,订单状态,买家留言,收货人姓名,收货地址 ,运送方式,联系电话 ,"
    "联系手机,订单创建时间,订单付款时间 ,宝贝标题 ,宝贝种类 ,物流单号 ,物流公司,订单备注,宝贝总数量,"
    "店铺Id,店铺名称,订单关闭原因,退款金额,确认收货时间"
)


def write(path: Path, rows: int, *, encoding: str = "utf-8-sig") -> Path:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET enable_progress_bar = false")
    body = path.with_suffix(".body.csv")
    con.execute(f"""
        COPY (
        SELECT
            '="' || (3000000000000000000 + i)::VARCHAR || '"',
            'buyer_' || (hash(i) % {max(rows // 3, 1)})::VARCHAR,
            '',
            printf('%.2f', 10 + (hash(i * 7) % 50000) / 100.0),
            CASE WHEN i % 5 = 0 THEN '10.00' ELSE '0.00' END,
            '0', '0', '0',
            printf('%.2f', 10 + (hash(i * 7) % 50000) / 100.0)
                || CASE WHEN i % 20 = 0 THEN '元' ELSE '' END,
            '0',
            ['交易成功', '交易成功', '交易成功', '交易关闭', '卖家已发货，等待买家确认',
             '买家已付款，等待卖家发货', '等待买家付款'][1 + (i % 7)::INT],
            CASE WHEN i % 97 = 0 THEN '请尽快发货, 谢谢' ELSE '' END,
            ['王', '李', '张', '刘', '陈', '杨', '赵', '黄'][1 + (hash(i) % 8)::INT]
                || ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊'][1 + (hash(i * 3) % 8)::INT],
            ['浙江省 杭州市 西湖区', '北京 北京市 朝阳区', '广东省 深圳市 南山区',
             '江苏省 南京市 玄武区', '上海 上海市 浦东新区', '四川省 成都市 武侯区'][1 + (hash(i) % 6)::INT]
                || ' 幸福路 ' || (hash(i) % 900 + 1)::VARCHAR || '号(310000)',
            '快递',
            '',
            CASE WHEN i % 4 = 0 THEN '138****' || lpad((hash(i) % 10000)::VARCHAR, 4, '0')
                 WHEN i % 2 = 0 THEN '''1' || (3800000000 + hash(i) % 99999999)::VARCHAR
                 ELSE '1' || (3800000000 + hash(i) % 99999999)::VARCHAR END,
            CASE WHEN i % 10 = 0
                 THEN strftime(TIMESTAMP '2023-01-01' + INTERVAL (i * 90) SECOND, '%Y/%-m/%-d %-H:%M')
                 ELSE strftime(TIMESTAMP '2023-01-01' + INTERVAL (i * 90) SECOND, '%Y-%m-%d %H:%M:%S')
            END,
            strftime(TIMESTAMP '2023-01-01' + INTERVAL (i * 90 + 60) SECOND, '%Y-%m-%d %H:%M:%S'),
            '商品 ' || (i % 300)::VARCHAR,
            '1', '', '', '',
            (1 + i % 3)::VARCHAR,
            '1001', '好店旗舰店', '',
            CASE WHEN i % 7 = 3 THEN printf('%.2f', 10 + (hash(i * 7) % 50000) / 100.0)
                 ELSE '0.00' END,
            ''
        FROM range({rows}) t(i)
        ) TO '{body}' (FORMAT csv, HEADER false, QUOTE '"')
    """)
    con.close()
    with open(path, "wb") as out:
        prefix = b"\xef\xbb\xbf" if encoding == "utf-8-sig" else b""
        out.write(prefix + (HEADER + "\n").encode("utf-8" if prefix else encoding))
        with open(body, "rb") as src:
            if encoding in ("utf-8", "utf-8-sig"):
                while chunk := src.read(16 << 20):
                    out.write(chunk)
            else:
                import codecs

                decoder = codecs.getincrementaldecoder("utf-8")()
                while chunk := src.read(16 << 20):
                    out.write(decoder.decode(chunk).encode(encoding))
    body.unlink()
    return path
