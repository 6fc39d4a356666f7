"""The CPU demo (``python -m biomatrix_plugin.demo``): tiny Qwen3 -> extend -> corpus -> CPT -> SFT ->
generate, and the demo data it trains on (``data``; samples shipped in ``samples/``).

May import every stage; nothing imports the demo.
"""
