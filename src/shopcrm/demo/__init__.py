"""Synthetic demo shop: realistic, seeded marketplace exports with a hidden ground truth.

``generate_demo_shop`` writes the files a Chinese online shop would download from Taobao,
JD, Pinduoduo and its own Shopify store (plus behaviour events), and a ground-truth file
saying which real person is behind every order and account, so identity resolution, tags,
RFM and lifecycle features can be measured against the truth rather than eyeballed.
"""

from shopcrm.demo.generate import DemoFile, DemoManifest, generate_demo_shop

__all__ = ["DemoFile", "DemoManifest", "generate_demo_shop"]
